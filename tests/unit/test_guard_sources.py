"""Per-address rules (issues 11 and 15): loopback exemption, budgets that survive
reconnecting, join pacing, and a registry that forgets and stays bounded.  Fake clock."""

from __future__ import annotations

import pytest
from test_guard import FakeClock

from tcpchat.guard import Limits, Pace, Sources, is_loopback

LIMITED = Limits(lines_per_second=10, burst_lines=100, limit_loopback=True)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.3.4", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("fe80::1%lo", False),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("128.0.0.1", False),
        ("not an address", False),
        ("", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_peers_are_exempt_by_default_and_others_are_not() -> None:
    sources = Sources(Limits(max_connections_per_address=2, burst_lines=1), FakeClock())
    assert all(sources.admit("127.0.0.1") for _ in range(301))
    assert sources.connections.count("127.0.0.1") == 301  # counted, not limited
    assert {sources.pace_line("127.0.0.1") for _ in range(500)} == {Pace(0.0, False)}
    assert sources.join_wait("127.0.0.1") == 0
    assert len(sources) == 0  # no budget kept for an exempt address
    assert [sources.admit("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert sources.pace_line("10.0.0.1") == Pace(0.0, False)
    assert sources.pace_line("10.0.0.1").wait > 0


def test_limit_loopback_applies_the_limits_to_loopback_too() -> None:
    sources = Sources(Limits(max_connections_per_address=2, limit_loopback=True), FakeClock())
    assert [sources.admit("127.0.0.1") for _ in range(3)] == [True, True, False]
    assert sources.exempt("127.0.0.1") is False


def test_the_line_budget_belongs_to_the_address_and_survives_reconnecting() -> None:
    clock = FakeClock()
    sources = Sources(LIMITED, clock)
    for _ in range(10):  # connect, send 10 lines, close: ten times at one instant
        sources.admit("127.0.0.2")
        paces = [sources.pace_line("127.0.0.2") for _ in range(10)]
        sources.release("127.0.0.2")
    assert paces[-1] == Pace(0.0, False)  # exactly the burst of 100 passed at once
    sources.admit("127.0.0.2")
    assert sources.pace_line("127.0.0.2") == Pace(pytest.approx(0.1), True)  # type: ignore[arg-type]
    assert sources.pace_line("127.0.0.3") == Pace(0.0, False)  # another address: its own


def test_a_budget_is_forgotten_once_full_and_unused_not_before() -> None:
    clock = FakeClock()
    sources = Sources(LIMITED, clock)
    sources.admit("127.0.0.2")
    sources.pace_line("127.0.0.2")
    sources.release("127.0.0.2")
    assert len(sources) == 1  # one token short: forgetting would refill it
    clock.advance(0.1)
    sources.admit("127.0.0.2")
    sources.release("127.0.0.2")
    assert len(sources) == 0


def test_the_registry_stays_bounded_and_keeps_addresses_with_connections() -> None:
    clock = FakeClock()
    sources = Sources(LIMITED, clock)
    sources.max_addresses = 3
    sources.admit("127.0.0.9")
    sources.pace_line("127.0.0.9")  # held: it has a connection
    for n in range(10):
        host = f"127.0.1.{n}"
        sources.admit(host)
        sources.pace_line(host)
        sources.release(host)  # not calm: kept until space is needed
    assert len(sources) == 3
    assert sources.connections.count("127.0.0.9") == 1
    assert "127.0.0.9" in sources._budgets


def test_joins_are_paced_after_the_burst_in_turn() -> None:
    clock = FakeClock()
    sources = Sources(Limits(joins_per_second=2, burst_joins=3, limit_loopback=True), clock)
    waits = [sources.join_wait("127.0.0.2") for _ in range(6)]
    assert waits == [0, 0, 0, 0.5, 1.0, 1.5]
    clock.advance(3.5)  # the three waiters joined and the bucket is full again
    assert sources.join_wait("127.0.0.2") == 0
    assert sources.join_wait("127.0.0.3") == 0  # another address: its own


def test_joins_unpaced_when_off() -> None:
    sources = Sources(Limits(joins_per_second=0, limit_loopback=True), FakeClock())
    assert {sources.join_wait("127.0.0.2") for _ in range(100)} == {0}


def test_unlimited_turns_the_new_limits_off_too() -> None:
    limits = Limits.unlimited()
    assert (limits.joins_per_second, limits.burst_joins, limits.limit_loopback) == (0, 0, False)
