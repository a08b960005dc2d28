"""Guard limits asserted exactly at their edges (issue 16; kills named mutmut survivors).

A fake clock, as in the guard's own tests: a paced line waits exactly its turn,
the line timer of 1 s is a timer, a released address seat is really released,
and the notices say their words.
"""

from __future__ import annotations

import pytest
from test_guard import FakeClock

from tcpchat.guard import (
    AddressCounter,
    ConnectionGuard,
    FloodControl,
    Limits,
    Pace,
    Sources,
    TokenBucket,
)


def test_a_bucket_refusal_says_why() -> None:
    with pytest.raises(
        ValueError, match=r"^a token bucket needs a positive rate and room for one token$"
    ):
        TokenBucket(0, 1)


def test_a_line_waits_exactly_until_its_token_is_there() -> None:
    clock = FakeClock()
    flood = FloodControl(Limits(lines_per_second=0.001, burst_lines=1), clock)
    assert flood.check() == Pace(0.0, False)
    assert flood.check() == Pace(1000.0, True)  # the flood starts at 1000.0
    assert flood.check() == Pace(2000.0, False)  # queued behind the first
    clock.now = 3999.0  # a second before the third token: the next waits that second
    assert flood.check() == Pace(pytest.approx(1.0), False)  # type: ignore[arg-type]
    clock.now = 5000.0  # exactly when the fourth token has come in
    assert flood.check() == Pace(0.0, False)


def test_the_flood_warning_in_full() -> None:
    assert Sources(Limits(lines_per_second=10)).warning() == (
        "slow down: over 10 lines a second from your address; "
        "your lines are held back and relayed at that rate, none is lost"
    )


@pytest.mark.parametrize("line_seconds", [1, 0.5])
def test_a_one_second_line_timeout_is_reported_as_a_line_timeout(line_seconds: float) -> None:
    clock = FakeClock()
    guard = ConnectionGuard(Limits(line_seconds=line_seconds, idle_seconds=0), clock)
    guard.received(0, partial_line=True)
    clock.now += line_seconds
    assert guard.expired_reason() == (
        f"timed out: a line was left unfinished for {line_seconds:g} s"
    )


def test_with_the_line_timeout_off_an_unfinished_line_meets_the_idle_timeout() -> None:
    clock = FakeClock()
    guard = ConnectionGuard(Limits(line_seconds=0, idle_seconds=5), clock)
    guard.received(0, partial_line=True)
    clock.now += 5
    assert guard.expired_reason() == "timed out: idle for 5 s"


def test_address_seats_are_counted_and_released_one_at_a_time() -> None:
    counter = AddressCounter(3)
    assert counter.count("10.0.0.1") == 0
    assert all(counter.admit("10.0.0.1") for _ in range(3))
    assert not counter.admit("10.0.0.1")
    assert counter.count("10.0.0.1") == 3
    counter.release("10.0.0.1")
    assert counter.count("10.0.0.1") == 2
    assert counter.admit("10.0.0.1")
    for expected in (2, 1, 0):
        counter.release("10.0.0.1")
        assert counter.count("10.0.0.1") == expected
    assert len(counter) == 0
    counter.release("10.0.0.1")  # one release too many changes nothing
    assert counter.count("10.0.0.1") == 0
    assert len(counter) == 0


def test_releasing_one_address_leaves_another_alone() -> None:
    counter = AddressCounter(2)
    counter.admit("a")
    counter.admit("a")
    counter.admit("b")
    counter.release("b")
    assert (counter.count("a"), counter.count("b"), len(counter)) == (2, 0, 1)


def test_the_address_refusal_in_full() -> None:
    assert AddressCounter(32).refusal("127.0.0.1") == (
        "error: too many connections from 127.0.0.1 (at most 32); close one and try again"
    )


def test_with_both_timeouts_off_an_unfinished_line_has_no_deadline() -> None:
    clock = FakeClock()
    guard = ConnectionGuard(Limits(line_seconds=0, idle_seconds=0), clock)
    guard.received(0, partial_line=True)
    assert guard.seconds_left() is None
    clock.now += 3600
    assert guard.expired_reason() is None
    idle = ConnectionGuard(Limits(line_seconds=0, idle_seconds=5), clock)
    idle.received(0, partial_line=True)
    assert idle.seconds_left() == 5  # the idle timer only: "line off" is not "line now"


@pytest.mark.parametrize("idle_seconds", [0.5, 1])
def test_an_idle_timeout_of_a_second_or_less_is_a_timeout(idle_seconds: float) -> None:
    clock = FakeClock()
    guard = ConnectionGuard(Limits(line_seconds=0, idle_seconds=idle_seconds), clock)
    assert guard.seconds_left() == idle_seconds
    clock.now += idle_seconds
    assert guard.expired_reason() == f"timed out: idle for {idle_seconds:g} s"


@pytest.mark.parametrize(
    "limits",
    [Limits(lines_per_second=0, burst_lines=5), Limits(lines_per_second=5, burst_lines=0)],
    ids=["rate off", "burst off"],
)
def test_either_flood_setting_at_zero_turns_flood_control_off(limits: Limits) -> None:
    flood = FloodControl(limits, FakeClock())
    assert not flood.flooding
    assert all(flood.check() == Pace(0.0, False) for _ in range(1000))
    assert not flood.flooding


def test_a_new_connection_is_not_flooding() -> None:
    assert FloodControl(Limits(), FakeClock()).flooding is False
