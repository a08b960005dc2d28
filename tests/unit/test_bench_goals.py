"""``tox -e bench`` gates on its goals: ratios to Twisted in the same run, checked at the edge."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

# The benchmarks are not part of the installed package: they live beside it in the
# checkout.  Appended, not prepended, so the tcpchat under test stays the installed one.
sys.path.append(str(Path(__file__).resolve().parents[2]))
report = importlib.import_module("benchmarks.report")


def median(deliveries: float, messages: float = 1000.0, p50: float = 50.0) -> dict[str, Any]:
    return {
        "deliveries_per_s": deliveries,
        "messages_per_s": messages,
        "p50_us": p50,
        "peak_rss_mib": 40.0,
        "threads": 1004,
        "ok": True,
    }


def summary(**scenarios: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return {
        "scenarios": [
            {"name": name, "servers": {"tcpchat": {"median": ours}, "twisted": {"median": theirs}}}
            for name, (ours, theirs) in scenarios.items()
        ]
    }


@pytest.mark.parametrize(("ratio", "met"), [(1.5, True), (1.49, False)])
def test_b_needs_one_and_a_half_times_twisteds_deliveries(ratio: float, met: bool) -> None:
    goals = report.goals(summary(b=(median(ratio * 1e6), median(1e6))))
    assert goals.met is met, goals.text


@pytest.mark.parametrize(
    ("messages", "p50", "met"),
    # At the edge: half Twisted's round trips, and a p50 at most twice Twisted's.
    [(500.0, 50.0, True), (499.0, 50.0, False), (1000.0, 100.1, False), (1000.0, 100.0, True)],
)
def test_a_needs_round_trips_and_p50_on_par_with_twisted(
    messages: float, p50: float, met: bool
) -> None:
    goals = report.goals(summary(a=(median(1, messages, p50), median(1, 1000.0, 50.0))))
    assert goals.met is met, goals.text


def test_a_missed_goal_is_named_for_the_end_of_the_log() -> None:
    goals = report.goals(summary(a=(median(1, 499.0), median(1)), b=(median(2e6), median(1e6))))
    assert [what.split(" ")[0] for what in goals.missed] == ["a:"]
    assert "0.50x Twisted's round trips/s" in goals.missed[0]


def test_a_lost_line_is_not_correct_whatever_the_speed() -> None:
    ours = {**median(9e6), "ok": False}
    goals = report.goals(summary(b=(ours, median(1e6))))
    assert not goals.correct
