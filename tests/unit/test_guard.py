"""Flood control, deadlines and per-address limits, driven by a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpchat.guard import (
    AddressCounter,
    ConnectionGuard,
    FloodControl,
    Limits,
    Pace,
    TokenBucket,
)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_bucket_starts_full_empties_and_refills_at_its_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=2, capacity=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.5)
    assert bucket.take()
    assert not bucket.take()
    clock.advance(100)
    assert bucket.tokens == 3


def test_a_clock_stepping_back_refills_nothing(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=1, capacity=1, clock=clock)
    assert bucket.take()
    clock.advance(-50)
    assert not bucket.take()


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 5), (1, 0.5)])
def test_a_bucket_that_could_never_pass_a_line_is_refused(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(rate, capacity)


@given(
    rate=st.floats(0.5, 50),
    capacity=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 2), max_size=200),
)
def test_a_bucket_never_passes_more_than_its_burst_plus_its_rate(
    rate: float, capacity: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    start = clock.now
    bucket = TokenBucket(rate, capacity, clock)
    passed = 0
    for gap in gaps:
        clock.advance(gap)
        passed += bucket.take()
    assert passed <= capacity + rate * (clock.now - start) + 1e-9


def test_a_paste_is_paced_with_one_warning_and_no_disconnect(clock: FakeClock) -> None:
    flood = FloodControl(Limits(lines_per_second=10, burst_lines=100), clock)
    paces = [flood.check() for _ in range(300)]  # all at the same instant
    assert paces[:100] == [Pace(0.0, False)] * 100
    assert paces[100] == Pace(pytest.approx(0.1), True)  # type: ignore[arg-type]
    # Each later line waits its turn: line 100 + k waits (k + 1) / rate, none is dropped.
    assert [round(pace.wait, 6) for pace in paces[100:]] == [
        round((k + 1) / 10, 6) for k in range(200)
    ]
    assert not any(pace.warn for pace in paces[101:])
    clock.advance(30)  # the debt is paid and the bucket full again: the flood is over
    assert flood.check() == Pace(0.0, False)
    assert not flood.flooding


def test_a_new_flood_after_calm_gets_a_new_warning(clock: FakeClock) -> None:
    flood = FloodControl(Limits(lines_per_second=1, burst_lines=2), clock)
    assert [flood.check().warn for _ in range(3)] == [False, False, True]
    clock.advance(3)
    assert [flood.check().warn for _ in range(3)] == [False, False, True]


def test_flood_control_off_passes_everything(clock: FakeClock) -> None:
    flood = FloodControl(Limits.unlimited(), clock)
    assert {flood.check() for _ in range(10_000)} == {Pace(0.0, False)}


def test_limits_refuse_negative_settings() -> None:
    with pytest.raises(ValueError, match="burst_lines cannot be negative"):
        Limits(burst_lines=-1)


def test_no_deadline_while_nothing_is_pending_and_idle_is_off(clock: FakeClock) -> None:
    guard = ConnectionGuard(Limits(), clock)
    assert guard.seconds_left() is None
    clock.advance(10**6)  # a reader who never types is welcome
    assert guard.expired_reason() is None


def test_an_unfinished_line_must_end_in_time(clock: FakeClock) -> None:
    guard = ConnectionGuard(Limits(line_seconds=30), clock)
    guard.received(complete_lines=0, partial_line=True)
    clock.advance(20)
    guard.received(complete_lines=0, partial_line=True)  # trickling does not buy time
    assert guard.seconds_left() == pytest.approx(10)
    assert guard.expired_reason() is None
    clock.advance(10)
    assert guard.seconds_left() == 0
    assert guard.expired_reason() == "timed out: a line was left unfinished for 30 s"


def test_ending_the_line_clears_the_deadline_and_a_new_partial_starts_a_new_one(
    clock: FakeClock,
) -> None:
    guard = ConnectionGuard(Limits(line_seconds=30), clock)
    guard.received(complete_lines=0, partial_line=True)
    clock.advance(25)
    guard.received(complete_lines=1, partial_line=False)
    assert guard.seconds_left() is None
    clock.advance(100)
    guard.received(complete_lines=2, partial_line=True)  # two lines and the start of a third
    assert guard.seconds_left() == pytest.approx(30)


def test_idle_timeout_counts_from_the_last_complete_line(clock: FakeClock) -> None:
    guard = ConnectionGuard(Limits(idle_seconds=300, line_seconds=60), clock)
    assert guard.seconds_left() == pytest.approx(300)
    clock.advance(299)
    guard.received(complete_lines=1, partial_line=False)
    assert guard.seconds_left() == pytest.approx(300)
    clock.advance(300)
    assert guard.expired_reason() == "timed out: idle for 300 s"


def test_the_earlier_deadline_names_the_reason(clock: FakeClock) -> None:
    guard = ConnectionGuard(Limits(idle_seconds=300, line_seconds=60), clock)
    clock.advance(280)
    guard.received(complete_lines=0, partial_line=True)  # line deadline 340, idle 300
    clock.advance(25)
    assert guard.expired_reason() == "timed out: idle for 300 s"
    guard2 = ConnectionGuard(Limits(idle_seconds=300, line_seconds=60), clock)
    guard2.received(complete_lines=0, partial_line=True)
    clock.advance(60)
    assert guard2.expired_reason() == "timed out: a line was left unfinished for 60 s"


def test_time_spent_pacing_does_not_count_against_the_deadlines(clock: FakeClock) -> None:
    guard = ConnectionGuard(Limits(idle_seconds=300, line_seconds=60), clock)
    guard.received(complete_lines=1, partial_line=True)
    clock.advance(50)
    guard.paused(50)  # the server held the connection's lines for 50 s
    assert guard.seconds_left() == pytest.approx(60)
    clock.advance(60)
    assert guard.expired_reason() == "timed out: a line was left unfinished for 60 s"


def test_addresses_are_counted_separately_and_released(clock: FakeClock) -> None:
    counter = AddressCounter(limit=2)
    assert counter.admit("10.0.0.1")
    assert counter.admit("10.0.0.1")
    assert not counter.admit("10.0.0.1")
    assert counter.admit("10.0.0.2")
    assert (counter.count("10.0.0.1"), len(counter)) == (2, 2)
    counter.release("10.0.0.1")
    assert counter.admit("10.0.0.1")
    for _ in range(3):
        counter.release("10.0.0.1")
    counter.release("10.0.0.2")
    assert len(counter) == 0  # nothing remembered for addresses that left
    assert "too many connections from 10.0.0.1 (at most 2)" in counter.refusal("10.0.0.1")


def test_an_address_limit_of_zero_only_counts() -> None:
    counter = AddressCounter(limit=0)
    assert all(counter.admit("127.0.0.1") for _ in range(10_000))
    assert counter.count("127.0.0.1") == 10_000
