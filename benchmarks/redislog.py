"""Appends per second to the Redis store (tcpchat.redislog) on loopback.

    python -m benchmarks.redislog [--seconds 3] [--redis-server PATH] [--json FILE]

Starts its own ``redis-server`` on 127.0.0.1 (a free port, no persistence),
then, one after another, for batches of 1 and of 50 lines of 60 bytes:

* ``append``: :meth:`RedisLog.append` in a loop from one thread, as the
  server calls it (serialised, one batch in flight): one Lua script run
  (INCRBY + XADD MAXLEN ~ + the writer's sequence) per batch;
* ``follow``: how fast a :class:`Follower` delivers the entries just written
  (reading the stream from the start, 1,000 entries per XREAD);
* ``shipped``: 1-line batches submitted to a :class:`Shipper` as fast as
  one thread can (what the server does under its lock), lines per second
  until all are in Redis: the shipper coalesces what waits (group commit);
* ``memory``: :class:`MemoryLog.append` for scale, and ``PING`` round trips
  per second, the floor any one-at-a-time Redis call stands on.

No thresholds: it prints figures for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.cluster import RedisServer
from tcpchat.chatlog import MemoryLog
from tcpchat.redislog import Entry, RedisLog
from tcpchat.redisship import Shipper

LINE = b"<alice> " + b"x" * 51 + b"\n"  # 60 bytes


def timed_appends(log: Any, batch: list[bytes], seconds: float) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            log.append(batch)
        count += 100
    return count, elapsed


def follow_rate(log: RedisLog, entries: int) -> float:
    done = threading.Event()
    seen = [0]

    def deliver(got: list[Entry]) -> None:
        seen[0] += len(got)
        if seen[0] >= entries:
            done.set()

    start = time.perf_counter()
    follower = log.follow(0, deliver, lambda kind, message: None, block_seconds=0.1)
    done.wait(120)
    elapsed = time.perf_counter() - start
    follower.stop()
    follower.join()
    return seen[0] / elapsed


def shipped_rate(url: str, lines: int) -> tuple[float, float]:
    """Lines per second through a Shipper, and the mean lines per entry."""
    log = RedisLog.connect(url, "bench-shipper", max_entries=1_000_000)
    shipper = Shipper(log, max_pending_lines=10 * lines)
    start = time.perf_counter()
    for _ in range(lines):
        shipper.submit([LINE])
    shipper.drained()
    elapsed = time.perf_counter() - start
    shipper.stop()
    shipper.join()
    entries = log.client.xlen(log.keys["log"])
    log.client.close()
    return lines / elapsed, lines / entries


def ping_rate(url: str, seconds: float) -> float:
    log = RedisLog.connect(url, "bench-ping")
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        log.client.ping()
        count += 1
    log.client.close()
    return count / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement (3)")
    parser.add_argument("--redis-server", default=shutil.which("redis-server"))
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if not args.redis_server:
        parser.error("redis-server not found: install it or pass --redis-server PATH")
    version = subprocess.run(
        [args.redis_server, "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    results: list[dict[str, Any]] = []
    redis = RedisServer(executable=args.redis_server)
    url = redis.url
    try:
        for lines in (1, 50):
            batch = [LINE] * lines
            log = RedisLog.connect(url, f"bench-{lines}", max_entries=1_000_000)
            count, elapsed = timed_appends(log, batch, args.seconds)
            follow = follow_rate(log, count)
            memory_count, memory_elapsed = timed_appends(MemoryLog(), batch, 0.5)
            results.append(
                {
                    "lines_per_batch": lines,
                    "appends_per_s": count / elapsed,
                    "lines_per_s": count * lines / elapsed,
                    "us_per_append": elapsed / count * 1e6,
                    "follow_entries_per_s": follow,
                    "memory_appends_per_s": memory_count / memory_elapsed,
                }
            )
            log.client.close()
        shipped, per_entry = shipped_rate(url, 200_000)
        pings = ping_rate(url, 1.0)
    finally:
        redis.stop()
    print(f"redis-server {version}, Python {platform.python_version()}, loopback, one writer")
    print(f"{'batch':>6} {'appends/s':>10} {'lines/s':>10} {'us/append':>10} {'follow/s':>10}")
    for r in results:
        print(
            f"{r['lines_per_batch']:>6} {r['appends_per_s']:>10.0f} {r['lines_per_s']:>10.0f}"
            f" {r['us_per_append']:>10.1f} {r['follow_entries_per_s']:>10.0f}"
            f"   (MemoryLog: {r['memory_appends_per_s']:.0f} appends/s)"
        )
    print(f"shipper, 1-line batches: {shipped:.0f} lines/s ({per_entry:.0f} lines per entry)")
    print(f"PING round trips: {pings:.0f}/s")
    if args.json:
        figures = {"redis": version, "results": results, "shipped_lines_per_s": shipped}
        figures |= {"shipped_lines_per_entry": per_entry, "pings_per_s": pings}
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(figures, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
