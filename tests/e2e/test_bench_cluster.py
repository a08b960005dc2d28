"""The benchmark's Redis runs (issue 12) measure a real room: two servers, one order.

``python -m benchmarks`` runs the same load on one server with the memory log,
one server on Redis and two servers of one room on Redis, clients split
between them.  These tests run its Redis kinds on a small load, with a real
``redis-server`` and real servers, and check what the figures rest on: every
client on both servers got every line, byte for byte the same stream, and the
run measured the cross-server latency and Redis's CPU.  No timings are
asserted: the figures go to docs/performance.md.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

# The benchmarks live beside the package in the checkout (see test_bench_goals.py).
sys.path.append(str(Path(__file__).resolve().parents[2]))
bench = importlib.import_module("benchmarks.__main__")
cluster = importlib.import_module("benchmarks.cluster")
loadgen = importlib.import_module("benchmarks.loadgen")
servers = importlib.import_module("benchmarks.servers")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.redis,
    pytest.mark.skipif(cluster.missing() is not None, reason=str(cluster.missing())),
]

# 6 clients, 3 on each server; 4 senders, 2 on each, 8 lines in flight each.
SMALL = loadgen.Scenario("small", 6, 4, 50, 8, "6 clients, 4 senders x 50, 8 in flight")


def test_two_servers_of_a_room_give_every_client_the_same_stream() -> None:
    row = bench.run_once(servers.REDIS2, SMALL, pin=False, timeout=60.0)
    assert row["problems"] == []
    assert row["ok"]
    assert row["deliveries"] == SMALL.deliveries
    # A line counts once the last client on either server has it: never before its echo.
    assert row["all_p50_us"] >= row["p50_us"] > 0
    assert row["redis_cpu"] > 0


def test_one_server_on_redis_is_measured_like_the_memory_server() -> None:
    row = bench.run_once(servers.REDIS, SMALL, pin=False, timeout=60.0)
    assert row["problems"] == []
    assert row["ok"]
    assert row["deliveries"] == SMALL.deliveries
    assert row["threads"] > 0
    assert row["peak_rss_mib"] > 0


def test_the_benchmarks_redis_server_keeps_nothing_and_is_gone_after() -> None:
    redis = cluster.RedisServer()
    try:
        config = redis.process.args
        assert config[config.index("--save") + 1] == ""
        assert config[config.index("--appendonly") + 1] == "no"
        assert config[config.index("--bind") + 1] == "127.0.0.1"
    finally:
        redis.stop()
    assert redis.process.returncode is not None
