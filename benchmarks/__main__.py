"""``python -m benchmarks [--quick] [--json FILE]``: tcpchat against Twisted, side by side.

Exits 1 if a goal (printed at the end, as ratios to Twisted in this run) is missed,
unless ``--no-check``.

Each run starts a fresh server process pinned to one core, drives it from
this process (pinned to the other core) and stops it.  For every repeat the
two servers run back to back on the same load, in alternating order, so
noise from a shared machine falls on both; the table shows medians.

With Redis (issue 12; ``redis`` and ``redis2``, run when ``redis-server`` and
the ``redis`` package are there): the same load on one server, then two
servers of one room, each run with a fresh ``redis-server`` beside the
servers on their core (see :mod:`benchmarks.cluster`); a second table gives
them as ratios against the memory server and Twisted of the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import cluster, report
from benchmarks.loadgen import LoadGenerator, Result, Scenario
from benchmarks.servers import (
    FSYNC,
    LIBRARY,
    REDIS,
    REDIS2,
    STORE,
    TCPCHAT,
    TWISTED,
    ServerKind,
    ServerProcess,
    tcpchat_from,
)

SCENARIOS = {
    "a": Scenario("a", 2, 1, 10_000, 1, "2 clients, 1 sender x 10,000, one in flight"),
    "b": Scenario("b", 100, 10, 1_000, 32, "100 clients, 10 senders x 1,000, 32 in flight"),
    "c": Scenario("c", 1_000, 10, 100, 32, "1,000 clients (990 idle), 10 senders x 100"),
    "n10": Scenario("n10", 10, 10, 10_000, 32, "10 clients, 10 senders x 10,000, 32 in flight"),
    "n2000": Scenario("n2000", 2_000, 10, 50, 32, "2,000 clients, 10 senders x 50"),
}
QUICK = ["a", "b", "c", "n10"]
FULL = [*QUICK, "n2000"]
ROUND_TRIP_REPEATS = 9
"""Runs of scenario a at the least: one line in flight makes its rate the noisiest
(one preempted thread shows in every round trip), and a run takes about a second,
so its median gets more runs than the other scenarios' before a goal is judged on it."""
REDIS_QUICK = ["b"]
"""Where ``--quick`` (CI) runs the Redis kinds: b, fan-out, where Redis's per-batch
cost is shared by many lines (about 2 s a run).  In a every line is its own round
trip through Redis (10-20 s a run), and c's set-up (1,000 joins, each a nick claim
and a notice through Redis) takes 8-12 s a run; the full run has them all."""
SCALING = ["n10", "b", "c", "n2000"]
"""The cost-growth curve: the same 10 senders, ever more listeners."""

_hosts = itertools.count(1)


def _free_address() -> tuple[str, int]:
    """A fresh ``127.77.X.Y`` for each run: no clash with tests, no TIME_WAIT reuse."""
    base = 30 + os.getpid() % 200
    for _ in range(200):
        number = next(_hosts)
        host = f"127.77.{base + number // 250}.{number % 250 + 1}"
        with socket.socket() as probe:
            try:
                probe.bind((host, 9123))
            except OSError:
                continue
        return host, 9123
    raise RuntimeError("no free loopback address")


def _cpus(pin: bool) -> tuple[int | None, int | None]:
    """One core for the server, another for the load generator, if there are two."""
    available = sorted(os.sched_getaffinity(0))
    if not pin or len(available) < 2:
        return None, None
    return available[0], available[1]


def run_once(
    kind: ServerKind, scenario: Scenario, pin: bool, timeout: float, profile: Path | None = None
) -> dict[str, Any]:
    server_cpu, loadgen_cpu = _cpus(pin)
    if loadgen_cpu is not None:
        os.sched_setaffinity(0, {loadgen_cpu})
    server: ServerProcess | cluster.Cluster
    if kind.redis:
        addresses = [_free_address() for _ in range(kind.servers)]
        server = cluster.Cluster(kind, addresses, cpu=server_cpu)
    else:
        server = ServerProcess(kind, *_free_address(), cpu=server_cpu)
    generator = LoadGenerator(server.addresses, scenario, timeout)
    marks: dict[str, dict[str, float]] = {}
    threads: list[int] = []

    def on_start() -> None:
        if profile is not None:
            server.start_profile(profile)
        threads.append(server.status()["Threads"])
        marks["start"] = server.usage()
        if isinstance(server, cluster.Cluster):
            server.begin()

    def on_stop() -> None:
        marks["stop"] = server.usage()
        if isinstance(server, cluster.Cluster):
            server.end()
        threads.append(server.status()["Threads"])
        server.stop_profile()

    try:
        result: Result = generator.run(on_start, on_stop)
        status = server.status()
    finally:
        generator.close()
        server.stop()
    row = asdict(result)
    used = {k: marks["stop"][k] - marks["start"][k] for k in marks.get("stop", {})}
    cpu = used.get("user", 0.0) + used.get("system", 0.0)
    row["server_cpu"] = cpu / result.elapsed if result.elapsed else 0.0
    row["server_system_share"] = used.get("system", 0.0) / cpu if cpu else 0.0
    row["switches_per_1k"] = used.get("switches", 0) * 1000 / max(result.deliveries, 1)
    if isinstance(server, cluster.Cluster) and "stop" in marks:
        row |= server.figures(result.elapsed, scenario.senders * scenario.messages)
    row["peak_rss_mib"] = status["VmHWM"] / 1024
    row["threads"] = max(threads, default=status["Threads"])
    return row


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    numeric = [key for key, value in rows[0].items() if isinstance(value, (int, float))]
    median = {key: statistics.median(row[key] for row in rows) for key in numeric}
    median["ok"] = all(row["ok"] for row in rows)
    median["problems"] = sorted({p for row in rows for p in row["problems"]})
    return median


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        import twisted

        twisted_version = twisted.__version__
    except ImportError:
        twisted_version = "not installed"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "twisted": twisted_version,
        "load_average_at_start": os.getloadavg()[0],
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="scenarios a, b, c, n10 (CI)")
    parser.add_argument("--json", metavar="FILE", help="write every run and the medians here")
    parser.add_argument("--svg", metavar="FILE", help="draw the scaling curve here")
    parser.add_argument("--repeats", type=int, help="runs per server and scenario (3; full: 5)")
    parser.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument(
        "--servers",
        help="comma-separated: tcpchat, twisted, library, store (--store), fsync "
        "(--store --fsync), redis (--store redis://), redis2 (two servers of one room on "
        "Redis); default: tcpchat, twisted (and library without --quick), then redis and "
        "redis2 if redis-server and the redis package are there",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin to separate cores")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run, at most")
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="print the goals but exit 0 when one is missed (exploring, not gating)",
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy each server into DIR")
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="also run tcpchat from DIR (e.g. a git worktree of an older commit) as 'before'",
    )
    return parser


def _kinds(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[ServerKind]:
    """The servers asked for; by default the Redis ones too, if this machine has Redis."""
    known = {kind.name: kind for kind in (TCPCHAT, TWISTED, LIBRARY, STORE, FSYNC, REDIS, REDIS2)}
    default = "tcpchat,twisted" if args.quick else "tcpchat,twisted,library"
    kinds = [known[name] for name in (args.servers or default).split(",")]
    no_redis = cluster.missing()
    if any(kind.redis for kind in kinds) and no_redis:
        parser.error(f"the Redis runs need Redis: {no_redis}")
    if not args.servers:
        if no_redis:
            print(f"benchmarks: no Redis runs: {no_redis}", file=sys.stderr)
        else:
            kinds += [REDIS, REDIS2]
    if args.before:
        kinds.append(tcpchat_from(Path(args.before), "before"))
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    names = args.scenarios.split(",") if args.scenarios else QUICK if args.quick else FULL
    repeats = args.repeats or (3 if args.quick else 5)
    kinds = _kinds(args, parser)
    if args.profile and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy (pip install py-spy)")
    if TWISTED in kinds and importlib.util.find_spec("twisted") is None:
        print(
            "benchmarks: Twisted is not installed (pip install 'tcpchat[bench]'); "
            "--servers tcpchat,library runs without it",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    runs = {name: max(repeats, ROUND_TRIP_REPEATS) if name == "a" else repeats for name in names}
    for repeat in range(max(runs.values())):
        for name in names:
            if repeat >= runs[name]:
                continue
            order = kinds if repeat % 2 == 0 else kinds[::-1]
            if args.quick and not args.scenarios and name not in REDIS_QUICK:
                order = [kind for kind in order if not kind.redis]
            for kind in order:
                profile = None
                if args.profile:
                    Path(args.profile).mkdir(parents=True, exist_ok=True)
                    profile = Path(args.profile) / f"{name}-{kind.name}-{repeat + 1}.txt"
                row = run_once(kind, SCENARIOS[name], not args.no_pin, args.timeout, profile)
                results.setdefault(name, {}).setdefault(kind.name, []).append(row)
                print(report.progress(repeat, name, kind.name, row), file=sys.stderr, flush=True)
    summary = {
        "machine": machine(),
        "settings": {"repeats": repeats, "pinned": not args.no_pin, "quick": args.quick},
        "seconds": round(time.monotonic() - started, 1),
        "scenarios": [
            {
                **asdict(SCENARIOS[name]),
                "deliveries": SCENARIOS[name].deliveries,
                "servers": {
                    server: {"median": _median(rows), "runs": rows}
                    for server, rows in results[name].items()
                },
            }
            for name in names
        ],
    }
    print(report.table(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.svg:
        Path(args.svg).write_text(report.scaling_svg(summary, SCALING), encoding="utf-8")
    goals = report.goals(summary)
    print(goals.text, flush=True)  # before stderr's verdict: a log cut short keeps its tail
    if not goals.correct:
        return 1
    # The goals are ratios between tcpchat and Twisted measured in this one run, back to
    # back on the same load, so a busy machine slows both: `tox -e bench` fails below them.
    if not goals.met and not args.no_check:
        for what in goals.missed:
            print(f"benchmarks: missed: {what}", file=sys.stderr)
        print("benchmarks: a goal was missed (--no-check to only print them)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
