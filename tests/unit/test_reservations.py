"""Nicknames held for dropped sessions: claimed back with the token, freed when the grace ends."""

from __future__ import annotations

from tcpchat.reservations import Reservations, new_token


def test_a_held_nick_is_claimed_back_only_with_its_token() -> None:
    held = Reservations(grace_seconds=60)
    assert held.hold("tok-eve", "Eve", now=0.0)
    assert held.holds("Eve") == "tok-eve"
    assert held.claim("tok-mallory") is None
    assert held.claim("tok-eve") == "Eve"
    assert held.holds("Eve") is None
    assert held.expired(now=1000.0) == []  # claimed: it never expires


def test_the_grace_ends_at_its_deadline_not_before() -> None:
    held = Reservations(grace_seconds=60)
    held.hold("a", "Ann", now=0.0)
    held.hold("b", "Bob", now=10.0)
    assert held.next_deadline() == 60.0
    assert held.expired(now=59.999) == []
    assert held.expired(now=60.0) == ["Ann"]  # at the deadline exactly
    assert held.nicks() == ["Bob"]
    assert held.next_deadline() == 70.0
    assert held.expired(now=100.0) == ["Bob"]
    assert held.next_deadline() is None
    assert len(held) == 0


def test_holding_again_moves_the_deadline() -> None:
    held = Reservations(grace_seconds=60)
    held.hold("a", "Ann", now=0.0)
    held.claim("a")
    held.hold("a", "Ann", now=50.0)  # resumed, then dropped again
    assert held.expired(now=60.0) == []  # the first deadline is stale
    assert held.next_deadline() == 110.0
    assert held.expired(now=110.0) == ["Ann"]


def test_no_grace_holds_nothing() -> None:
    held = Reservations(grace_seconds=0)
    assert held.hold("a", "Ann", now=0.0) is False
    assert held.holds("Ann") is None


def test_tokens_are_long_random_and_distinct() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) == 32 and int(token, 16) >= 0 for token in tokens)
