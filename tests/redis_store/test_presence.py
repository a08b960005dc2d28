"""Nickname claims across servers (tcpchat.presence) against a real redis-server."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest
import redis
from pytest_redis.executor import RedisExecutor
from redis_helpers import Paused, url_of, wait_until

from tcpchat.errors import ChatError
from tcpchat.presence import Member, Presence, Renewal
from tcpchat.redisconn import StoreUnavailable

ANSWER_SECONDS = 2.0
"""How long a stopped Redis is waited for before it counts as away: long enough that
a Redis just resumed on a loaded machine (three suites on two cores) answers in time."""


@pytest.fixture
def servers(redis_url: str, room: str, client: redis.Redis) -> Iterator[list[Presence]]:
    """Two servers' presences in one room (leases long enough never to run out here)."""
    both = [
        Presence.connect(redis_url, room, "server-a", lease_seconds=60),
        Presence.connect(redis_url, room, "server-b", lease_seconds=60),
    ]
    yield both
    for presence in both:
        presence.client.close()


def test_a_nick_is_unique_across_servers_whatever_its_case(servers: list[Presence]) -> None:
    a, b = servers
    assert a.claim("Alice")
    assert not b.claim("alice")
    assert not b.claim("ALICE")
    assert a.claim("Alice")  # a retry by its owner is safe
    assert b.claim("bob")
    assert a.members() == b.members() == [Member("Alice", "server-a"), Member("bob", "server-b")]
    assert a.owner_of("ALICE") == "server-a"
    assert b.owner_of("carol") is None


def test_concurrent_claims_of_one_nick_have_one_winner(servers: list[Presence]) -> None:
    start = threading.Barrier(2)
    won: list[bool] = [False, False]

    def claim(index: int) -> None:
        start.wait()
        won[index] = servers[index].claim("Zed")

    threads = [threading.Thread(target=claim, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, True]
    assert len(servers[0].members()) == 1


def test_release_frees_only_the_owners_claim(servers: list[Presence]) -> None:
    a, b = servers
    assert a.claim("Alice")
    assert not b.release("Alice")  # not b's to free
    assert not b.claim("alice")
    assert a.release("Alice")
    assert b.members() == []
    assert b.claim("alice")
    assert b.members() == [Member("alice", "server-b")]


def test_a_respelling_keeps_the_claim_and_a_new_name_frees_the_old(
    servers: list[Presence],
) -> None:
    a, b = servers
    assert a.claim("alice")
    assert a.claim("Alice", replacing="alice")  # same folded nick: respelt in place
    assert not b.claim("alice")
    assert b.claim("bob")
    assert not a.claim("Bob")  # taken by b: a keeps Alice
    assert a.claim("Carol")
    assert a.release("Alice")
    assert b.claim("alice")  # free again
    assert a.members() == [
        Member("alice", "server-b"),
        Member("bob", "server-b"),
        Member("Carol", "server-a"),
    ]


def test_a_crashed_servers_nicks_come_free_and_are_swept_once(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    # The refusal below must come within this lease: as long as the survivors', not shorter
    crashed = Presence.connect(redis_url, room, "crashed", lease_seconds=1)
    survivors = [Presence.connect(redis_url, room, f"alive-{n}", lease_seconds=1) for n in (1, 2)]
    try:
        assert crashed.claim("Alice")
        assert crashed.claim("Bob")
        assert not survivors[0].claim("alice")
        # The crashed server renews no more: its nicks come free once the lease ends.
        wait_until(lambda: survivors[0].claim("alice"))
        assert survivors[0].members()[0] == Member("alice", "alive-1")
        # Both survivors renew (a sweep waits for a whole lease of their renewals);
        # each expired member goes to exactly one of them.
        swept: list[Member] = []

        def renew_both() -> bool:
            for survivor in survivors:
                swept.extend(survivor.renew().expired)
            return len(swept) >= 2

        wait_until(renew_both)
        assert sorted(swept) == [Member("Alice", "crashed"), Member("Bob", "crashed")]
        assert [s.renew() for s in survivors] == [Renewal([], []), Renewal([], [])]
    finally:
        for presence in [crashed, *survivors]:
            presence.client.close()


def test_renewing_keeps_the_claims_past_their_first_lease(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    owner = Presence.connect(redis_url, room, "owner", lease_seconds=1.5)
    other = Presence.connect(redis_url, room, "other", lease_seconds=60)
    renewals: list[Renewal] = []
    try:
        assert owner.claim("Alice")
        key = owner.claim_key("Alice")
        first_ttl = client.pttl(key)
        assert 0 < first_ttl <= 1500
        # Await a renewal that started after the first lease ran out.
        lease_end = client.time()
        wait_until(  # renewing as the server's thread does, every third of the lease or less
            lambda: (
                renewals.append(owner.renew()) or redis_ms(client) > redis_ms_of(lease_end) + 1600
            )
        )
        assert not other.claim("alice")
        assert client.get(key) == b"owner\nAlice"
        assert other.members() == [Member("Alice", "owner")]
        assert all(r == Renewal([], []) for r in renewals)  # nothing lost, nothing expired
    finally:
        owner.client.close()
        other.client.close()


def redis_ms_of(time: tuple[int, int]) -> int:
    return time[0] * 1000 + time[1] // 1000


def redis_ms(client: redis.Redis) -> int:
    return redis_ms_of(client.time())


def test_a_lease_lost_while_away_is_reported_to_its_owner(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    owner = Presence.connect(redis_url, room, "owner", lease_seconds=60)
    other = Presence.connect(redis_url, room, "other", lease_seconds=60)
    try:
        assert owner.claim("Alice")
        client.delete(owner.claim_key("Alice"))  # as if the lease ran out unrenewed
        assert other.claim("alice")
        assert owner.renew().lost == ["Alice"]
        assert owner.renew().lost == []  # said once
        assert other.owner_of("Alice") == "other"
    finally:
        owner.client.close()
        other.client.close()


def test_two_servers_need_two_operator_nicks(servers: list[Presence]) -> None:
    a, b = servers
    a.claim_operator("Operator")
    with pytest.raises(ChatError, match=r"taken in room .* by server server-a") as error:
        b.claim_operator("operator")
    assert "another --nick" in str(error.value)
    assert "\n" not in str(error.value)
    b.claim_operator("Operator2")


def test_an_unreachable_redis_is_one_line_for_presence_too(room: str) -> None:
    presence = Presence.connect("redis://127.0.0.1:1/0", room, "owner", timeout=1.0)
    with pytest.raises(StoreUnavailable, match="unreachable") as error:
        presence.claim("Alice")
    assert "\n" not in str(error.value)
    with pytest.raises(StoreUnavailable):
        presence.members()


def test_a_release_while_redis_is_away_is_done_by_the_next_renewal(
    faulty_redis: RedisExecutor, pause_redis: Paused, room: str
) -> None:
    url = url_of(faulty_redis)
    owner = Presence.connect(url, room, "owner", lease_seconds=60, timeout=ANSWER_SECONDS)
    other = Presence.connect(url, room, "other", lease_seconds=60, timeout=ANSWER_SECONDS)
    try:
        assert owner.claim("Alice")
        pause_redis.stop()
        with pytest.raises(StoreUnavailable):
            owner.release("Alice")
        with pytest.raises(StoreUnavailable):
            owner.renew()  # still away: the release stays due
        pause_redis.resume()
        assert owner.renew() == Renewal([], [])
        assert other.members() == []
        assert other.claim("alice")
    finally:
        pause_redis.resume()
        owner.client.close()
        other.client.close()


def test_a_server_cut_off_for_longer_than_the_lease_sweeps_nobody_at_once(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    """Leases run out on Redis's clock, the live servers' too, while they cannot renew:
    a sweeper whose own renewals had a gap must first renew for a whole lease."""
    other = Presence.connect(redis_url, room, "other", lease_seconds=0.4)
    sweeper = Presence.connect(redis_url, room, "sweeper", lease_seconds=0.4)
    try:
        assert other.claim("Alice")
        assert sweeper.renew() == Renewal([], [])
        # The sweeper does not renew until Alice's claim has run out (a gap > lease / 2):
        wait_until(lambda: not client.exists(f"tcpchat:{{{room}}}:nick:alice"))
        assert sweeper.renew() == Renewal([], [])  # Alice may be alive, cut off as it was
        swept: list[Member] = []
        wait_until(lambda: swept.extend(sweeper.renew().expired) or swept)
        assert swept == [Member("Alice", "other")]  # after a whole lease of renewals
    finally:
        other.client.close()
        sweeper.client.close()
