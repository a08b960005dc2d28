"""Printing the results: the side-by-side table, the goals, the scaling plot (SVG).

The Redis kinds (issue 12) get a second table: each figure beside its ratio
to the memory server (``tcpchat``) and to Twisted of the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BASELINE = "twisted"
MEMORY = "tcpchat"
"""One server with the memory log: what the Redis kinds are compared with."""
REDIS_KINDS = ("redis", "redis2")
COLUMNS = (
    ("deliv/s", 8), ("msgs/s", 7), ("p50 us", 7), ("p99 us", 8), ("RSS MiB", 7),
    ("threads", 7), ("srv CPU", 7), ("sys", 4), ("ctx/1k", 6), ("gen CPU", 7),
    ("check", 5), ("x Twisted", 9),
)  # fmt: skip


def _si(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def progress(repeat: int, scenario: str, server: str, row: dict[str, Any]) -> str:
    state = "ok" if row["ok"] else "PROBLEM: " + "; ".join(row["problems"])
    return (
        f"  run {repeat + 1} {scenario:>5} {server:<8} {_si(row['deliveries_per_s']):>7} deliv/s"
        f"  p50 {row['p50_us']:6.0f} us  rss {row['peak_rss_mib']:5.1f} MiB"
        f"  cpu srv {row['server_cpu']:4.0%} gen {row['loadgen_cpu']:4.0%}"
        + (f" redis {row['redis_cpu']:4.0%}" if row.get("redis_cpu") else "")
        + f"  {row['setup_s'] + row['elapsed']:4.1f} s  {state}"
    )


def _ratio(scenario: dict[str, Any], server: str) -> float | None:
    servers = scenario["servers"]
    if server == BASELINE or BASELINE not in servers:
        return None
    return float(
        servers[server]["median"]["deliveries_per_s"]
        / servers[BASELINE]["median"]["deliveries_per_s"]
    )


def table(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        f"{machine['cpu']}, {machine['cores']} cores, {machine['implementation']} "
        f"{machine['python']}, Twisted {machine['twisted']}; medians of "
        f"{summary['settings']['repeats']}, server and load generator "
        + ("pinned to separate cores" if summary["settings"]["pinned"] else "not pinned"),
        "",
        f"{'scenario':<9} {'server':<8} " + " ".join(f"{t:>{w}}" for t, w in COLUMNS),
    ]
    for scenario in summary["scenarios"]:
        lines.append(f"{scenario['name']}: {scenario['title']}")
        for server, data in scenario["servers"].items():
            m = data["median"]
            ratio = _ratio(scenario, server)
            cells = (
                _si(m["deliveries_per_s"]), _si(m["messages_per_s"]), f"{m['p50_us']:.0f}",
                f"{m['p99_us']:.0f}", f"{m['peak_rss_mib']:.1f}", f"{m['threads']:.0f}",
                f"{m['server_cpu']:.0%}", f"{m['server_system_share']:.0%}",
                f"{m['switches_per_1k']:.1f}", f"{m['loadgen_cpu']:.0%}",
                "ok" if m["ok"] else "FAIL", "" if ratio is None else f"{ratio:.2f}x",
            )  # fmt: skip
            lines.append(
                f"{'':<9} {server:<8} "
                + " ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=False))
            )
    lines.append("")
    lines.append(
        "deliv/s: lines received by all clients per second; msgs/s: lines sent per second "
        "(round trips in a);\np50/p99: send to own echo; RSS: server peak (VmHWM); "
        "srv/gen CPU: share of one core while measuring;\nsys: the server's share of it in "
        "the kernel; ctx/1k: the server's context switches per 1,000 deliveries;\n"
        "check: every client got every line, in one order."
    )
    return "\n".join(lines + _redis_table(summary))


def _times(value: float, base: dict[str, Any] | None, key: str) -> str:
    if base is None or not base["median"][key]:
        return ""
    return f"{value / base['median'][key]:.2f}x"


def _redis_table(summary: dict[str, Any]) -> list[str]:
    """The Redis kinds against the memory server and Twisted (empty if none ran)."""
    scenarios = [s for s in summary["scenarios"] if set(REDIS_KINDS) & s["servers"].keys()]
    if not scenarios:
        return []
    head = ("deliv/s", "/mem", "/Tw", "p50 us", "/mem", "/Tw", "p99 us", "/mem", "/Tw",
            "all p50", "all p99", "Redis", "l/entry", "us/entr")  # fmt: skip
    lines = [
        "",
        "The room on Redis (issue 12): figures and ratios to one server with the memory log "
        "(/mem) and to Twisted (/Tw), same run",
        f"{'scenario':<9} {'server':<8} " + " ".join(f"{t:>7}" for t in head),
    ]
    for scenario in scenarios:
        servers = scenario["servers"]
        memory, twisted = servers.get(MEMORY), servers.get(BASELINE)
        lines.append(f"{scenario['name']}: {scenario['title']}")
        for server in (MEMORY, *REDIS_KINDS):
            if server not in servers:
                continue
            m = servers[server]["median"]
            cells = [_si(m["deliveries_per_s"])]
            cells += [
                _times(m["deliveries_per_s"], b, "deliveries_per_s") for b in (memory, twisted)
            ]
            for key in ("p50_us", "p99_us"):
                cells += [f"{m[key]:.0f}"] + [_times(m[key], b, key) for b in (memory, twisted)]
            cells += [f"{m.get('all_p50_us', 0):.0f}", f"{m.get('all_p99_us', 0):.0f}"]
            cells.append(f"{m['redis_cpu']:.0%}" if m.get("redis_cpu") else "")
            cells.append(f"{m['lines_per_entry']:.1f}" if m.get("lines_per_entry") else "")
            cells.append(f"{m['redis_cpu_us_per_entry']:.0f}" if m.get("redis_entries") else "")
            lines.append(f"{'':<9} {server:<8} " + " ".join(f"{c:>7}" for c in cells))
    lines += [
        "",
        "redis: one server, --store redis://; redis2: two servers of one room, the clients (and",
        "senders) split between them; each run starts its own redis-server, on the servers' core.",
        "deliv/s counts a line once every client on every server has it; all p50/p99: from a",
        "line's send to the last client having it; Redis: redis-server's share of one core;",
        "l/entry: lines per stream entry (a batch shipped, one script run); us/entr: Redis CPU",
        "per entry (its script, every server's XREAD of it, the network).",
    ]
    return lines


@dataclass
class Goals:
    text: str
    met: bool
    correct: bool
    missed: list[str]


ROUND_TRIP_GOAL = 0.5
"""Scenario a (one line in flight): at least half Twisted's round trips, a p50 at most
twice its.  Both wait on the kernel's loopback round trip, and one line in flight makes
every preempted thread show: on the shared 2-core VM, medians of 9 runs of the same code
measured 0.64-1.12x Twisted's round trips within one session 5 hour (pairs of runs back
to back 0.59-0.95x), p50 0.78-1.51x, so 0.75 (sessions 3-4; 0.9 before session 3 added
pacing, the bounded event queue and sessions to every line) failed CI on noise.  What
the goal catches is a line's path costing about twice what it does (a per-line address
parse once took a to 0.58x); b and c, where fan-out dominates, keep 1.5x."""


REDIS_GOAL = 0.3
"""Scenario b (fan-out), one server on Redis: at least 0.3x the memory server's
deliveries/s in the same run.  Redis's work is per batch, not per line: one script run
and one XREAD per entry (~110 us of Redis's CPU for an entry of ~47 lines in b, 2-7 %
of its core), and the server's fan-out is the memory server's.  Medians measured
0.59-1.09x on the shared machine (the lower, the quieter it was: memory gains more),
0.47x in a quiet fresh-clone CI run (0.4 was the goal until then: too close to that).
Should the batching break (an entry per line), each line would cost the server about
330 us of CPU as in a, capping b near 3k lines/s, about 0.1x: the goal is there to
catch that, with room for this machine's +-30 % from run to run.  Two servers of one
room (redis2) have no goal: on the one core they share with Redis here, their ratio
(medians 0.67-1.10x, single runs from 0.75 M to 2.6 M deliveries/s) measures the
scheduler as much as tcpchat; its lines are checked for one order like every run's
(docs/performance.md)."""


def goals(summary: dict[str, Any]) -> Goals:
    """The stated goals, each said to be met or missed: ratios to Twisted in this same run."""
    found = {s["name"]: s for s in summary["scenarios"]}
    verdicts: list[tuple[str, bool]] = []
    correct = all(d["median"]["ok"] for s in summary["scenarios"] for d in s["servers"].values())
    verdicts.append(("no loss, no reordering, one total order in every run", correct))
    both = {name for name, s in found.items() if {"tcpchat", BASELINE} <= s["servers"].keys()}
    if "a" in both:
        ours, theirs = (found["a"]["servers"][k]["median"] for k in ("tcpchat", BASELINE))
        rate = ours["messages_per_s"] / theirs["messages_per_s"] if theirs["messages_per_s"] else 0
        p50 = ours["p50_us"] / theirs["p50_us"] if theirs["p50_us"] else float("inf")
        verdicts.append(
            (
                f"a: {rate:.2f}x Twisted's round trips/s >= {ROUND_TRIP_GOAL}x "
                f"({_si(ours['messages_per_s'])}/s against {_si(theirs['messages_per_s'])}/s)",
                rate >= ROUND_TRIP_GOAL,
            )
        )
        verdicts.append(
            (
                f"a: p50 {p50:.2f}x Twisted's <= {1 / ROUND_TRIP_GOAL:.1f}x "
                f"({ours['p50_us']:.0f} us against {theirs['p50_us']:.0f} us)",
                p50 <= 1 / ROUND_TRIP_GOAL,
            )
        )
    for name in ("b", "c"):
        if name in both:
            ratio = _ratio(found[name], "tcpchat") or 0.0
            verdicts.append((f"{name}: {ratio:.2f}x Twisted's deliveries/s >= 1.5x", ratio >= 1.5))
    if "c" in found and "tcpchat" in found["c"]["servers"]:
        m = found["c"]["servers"]["tcpchat"]["median"]
        verdicts.append(
            (
                f"c: peak RSS {m['peak_rss_mib']:.1f} MiB < 64 MiB with "
                f"{m['threads']:.0f} threads for 1,000 clients",
                m["peak_rss_mib"] < 64,
            )
        )
    verdicts += _redis_goals(found)
    text = "\n".join(f"[{'met' if ok else 'MISSED'}] {what}" for what, ok in verdicts)
    missed = [what for what, ok in verdicts if not ok]
    return Goals(text, not missed, correct, missed)


def _redis_goals(found: dict[str, dict[str, Any]]) -> list[tuple[str, bool]]:
    servers = found["b"]["servers"] if "b" in found else {}
    if MEMORY not in servers:
        return []
    memory = servers[MEMORY]["median"]["deliveries_per_s"]
    verdicts: list[tuple[str, bool]] = []
    if "redis" in servers:
        ratio = servers["redis"]["median"]["deliveries_per_s"] / memory if memory else 0.0
        what = f"b: one server on Redis {ratio:.2f}x the memory server's deliveries/s"
        verdicts.append((f"{what} >= {REDIS_GOAL}x", ratio >= REDIS_GOAL))
    return verdicts


# -- the scaling plot -------------------------------------------------------

_COLOURS = {"tcpchat": "#1f77b4", "twisted": "#d62728", "library": "#2ca02c", "before": "#999999"}
_PANELS = (
    ("deliveries_per_s", "deliveries/s (millions)", 1e-6),
    ("peak_rss_mib", "server peak RSS (MiB)", 1.0),
    ("p50_us", "p50 latency (ms)", 1e-3),
)
_W, _H, _LEFT, _BOTTOM, _TOP = 260, 200, 44, 30, 24  # one panel, and its margins


def scaling_svg(summary: dict[str, Any], names: list[str]) -> str:
    """Three small panels against the number of clients (log scale), as plain SVG."""
    points = sorted(
        (s for s in summary["scenarios"] if s["name"] in names), key=lambda s: s["clients"]
    )
    servers = [k for k in _COLOURS if points and all(k in s["servers"] for s in points)]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W * len(_PANELS)}" '
        f'height="{_H + 24}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    if points:
        logs = [math.log10(s["clients"]) for s in points]
        span = (min(logs) - 0.15, max(logs) + 0.15)
        for number, (key, label, scale) in enumerate(_PANELS):
            series = {
                k: [(s["clients"], s["servers"][k]["median"][key] * scale) for s in points]
                for k in servers
            }
            top = 1.15 * max((v for line in series.values() for _, v in line), default=1.0) or 1.0
            out += _panel(number * _W, label, span, top, series)
    for number, server in enumerate(servers):
        x = 60 + number * 90
        out.append(f'<rect x="{x}" y="{_H + 8}" width="10" height="10" fill="{_COLOURS[server]}"/>')
        out.append(f'<text x="{x + 14}" y="{_H + 17}">{server}</text>')
    out.append(
        f'<text x="{_W * len(_PANELS) - 10}" y="{_H + 17}" text-anchor="end">'
        "clients connected, 10 of them sending (log scale)</text>"
    )
    return "\n".join([*out, "</svg>", ""])


def _panel(
    left: int,
    label: str,
    span: tuple[float, float],
    top: float,
    series: dict[str, list[tuple[int, float]]],
) -> list[str]:
    def x(clients: float) -> float:
        share = (math.log10(clients) - span[0]) / (span[1] - span[0])
        return left + _LEFT + share * (_W - _LEFT - 10)

    def y(value: float) -> float:
        return _H - _BOTTOM - value / top * (_H - _BOTTOM - _TOP)

    x0, x1, y0, y1 = left + _LEFT, left + _W - 10, y(0), y(top)
    out = [
        f'<text x="{left + _W / 2}" y="14" text-anchor="middle">{label}</text>',
        f'<polyline points="{x0},{y1:.1f} {x0},{y0:.1f} {x1},{y0:.1f}" fill="none" stroke="#444"/>',
    ]
    for value in (top / 1.15 / 2, top / 1.15):
        out.append(
            f'<text x="{x0 - 4}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.3g}</text>'
        )
    for clients, _ in next(iter(series.values()), []):
        name = f"{clients // 1000}k" if clients >= 1000 else str(clients)
        out.append(
            f'<text x="{x(clients):.1f}" y="{y0 + 14:.1f}" text-anchor="middle">{name}</text>'
        )
    for server, line in series.items():
        points = " ".join(f"{x(c):.1f},{y(v):.1f}" for c, v in line)
        colour = _COLOURS[server]
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )
        out += [
            f'<circle cx="{x(c):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"/>' for c, v in line
        ]
    return out
