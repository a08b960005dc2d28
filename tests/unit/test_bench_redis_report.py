"""The benchmark's Redis table and goal (issue 12): ratios to the memory server and Twisted."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

# The benchmarks live beside the package in the checkout (see test_bench_goals.py).
sys.path.append(str(Path(__file__).resolve().parents[2]))
report = importlib.import_module("benchmarks.report")


def median(deliveries: float, p50: float, **more: float) -> dict[str, Any]:
    return {
        "deliveries_per_s": deliveries,
        "p50_us": p50,
        "p99_us": 2 * p50,
        "all_p50_us": 1.5 * p50,
        "all_p99_us": 3 * p50,
        "ok": True,
        **more,
    }


def scenario(**servers: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "b",
        "title": "100 clients",
        "servers": {name: {"median": m} for name, m in servers.items()},
    }


def rows(summary: dict[str, Any]) -> dict[str, list[str]]:
    """The table's rows by server: its cells, the empty ones left out."""
    return {
        line.split()[0]: line.split()[1:]
        for line in report._redis_table(summary)
        if line.startswith(" ") and line.strip()
    }


def test_the_redis_kinds_are_given_as_ratios_to_memory_and_to_twisted() -> None:
    redis = {"redis_cpu": 0.05, "redis_entries": 100, "lines_per_entry": 12.5}
    redis |= {"redis_cpu_us_per_entry": 80.0}
    b = scenario(
        tcpchat=median(2e6, 100.0),
        twisted=median(5e5, 400.0),
        redis=median(1e6, 200.0, **redis),
        redis2=median(5e5, 400.0, **redis),
    )
    found = rows({"scenarios": [b]})
    # deliv/s, /mem, /Tw, p50, /mem, /Tw, p99, /mem, /Tw, all p50, all p99, Redis, l/entry, us
    assert found["redis"][:6] == ["1.00M", "0.50x", "2.00x", "200", "2.00x", "0.50x"]
    assert found["redis2"][1:3] == ["0.25x", "1.00x"]
    assert found["redis"][-3:] == ["5%", "12.5", "80"]
    assert found["tcpchat"][:2] == ["2.00M", "1.00x"]


def test_no_redis_run_no_redis_table() -> None:
    b = scenario(tcpchat=median(2e6, 100.0), twisted=median(5e5, 400.0))
    assert report._redis_table({"scenarios": [b]}) == []


def test_without_twisted_the_twisted_ratios_are_left_empty() -> None:
    b = scenario(tcpchat=median(2e6, 100.0), redis=median(1e6, 200.0))
    found = rows({"scenarios": [b]})
    assert found["redis"][:5] == ["1.00M", "0.50x", "200", "2.00x", "400"]


@pytest.mark.parametrize(("ratio", "met"), [(0.3, True), (0.29, False)])
def test_b_on_one_redis_server_needs_0_4_of_the_memory_servers_deliveries(
    ratio: float, met: bool
) -> None:
    b = scenario(tcpchat=median(2e6, 100.0), redis=median(ratio * 2e6, 200.0))
    goals = report.goals({"scenarios": [b]})
    assert goals.met is met, goals.text
    assert f"b: one server on Redis {ratio:.2f}x the memory server's" in goals.text


def test_two_servers_on_one_core_are_shown_not_gated() -> None:
    b = scenario(tcpchat=median(2e6, 100.0), redis2=median(0.1 * 2e6, 200.0))
    goals = report.goals({"scenarios": [b]})
    assert goals.met, goals.text
    assert rows({"scenarios": [b]})["redis2"][1] == "0.10x"


def test_the_redis_goal_needs_the_memory_server_in_the_run() -> None:
    b = scenario(redis=median(1.0, 200.0))
    goals = report.goals({"scenarios": [b]})
    assert goals.met
    assert "Redis" not in goals.text
