"""The room's Registry seam: names held by other servers of a cluster (pure, no Redis).

A dict stands in for Redis here; the real registry (tcpchat.server.cluster.Names
over tcpchat.presence) is tested against a real redis-server in tests/redis_store.
"""

from __future__ import annotations

import pytest

from tcpchat import events
from tcpchat.chatlog import MemoryLog
from tcpchat.room import Broadcast, ChatRoom, Close, Reply


class Elsewhere:
    """Names claimed in a shared place: ``held`` maps a folded nick to (owner, nick, token)."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, str, str]] = {}
        self.released: list[str] = []

    def claim(self, nick: str, token: str = "", replacing: str = "") -> bool:
        owner = self.held.get(nick.casefold())
        if owner is not None and owner[0] != "here":
            return False
        self.held[nick.casefold()] = ("here", nick, token)
        if replacing and replacing.casefold() != nick.casefold():
            self.release(replacing)
        return True

    def release(self, nick: str) -> None:
        self.released.append(nick)
        self.held.pop(nick.casefold(), None)

    def take_over(self, nick: str, token: str) -> str | None:
        held = self.held.get(nick.casefold())
        if held is None or not token or held[2] != token:
            return None
        self.held[nick.casefold()] = ("here", held[1], token)
        return held[1]

    def others(self) -> list[str]:
        return [nick for owner, nick, _ in self.held.values() if owner != "here"]


def texts(actions: list[object]) -> list[str]:
    return [a.line for a in actions if isinstance(a, (Reply, Broadcast))]


def test_a_name_held_elsewhere_is_refused_and_a_default_name_is_claimed_instead() -> None:
    registry = Elsewhere()
    registry.held["ann"] = ("other", "Ann", "")
    registry.held["client"] = ("other", "Client", "")
    room = ChatRoom(registry=registry)
    actions = room.connect("c1", nick="ann")
    assert "* error: cannot change nickname: ann is already taken; you are still Client2" in (
        texts(actions)
    )
    assert registry.held["client2"][0] == "here"


def test_a_rename_to_a_name_held_elsewhere_is_refused_and_the_old_name_kept() -> None:
    registry = Elsewhere()
    room = ChatRoom(registry=registry)
    room.connect("c1", nick="bob")
    registry.held["cy"] = ("other", "cy", "")
    assert texts(room.receive("c1", "/nick cy")) == [
        "* error: cannot change nickname: cy is already taken; you are still bob"
    ]
    assert room.nick_of("c1") == "bob"
    room.receive("c1", "/nick dee")
    assert "bob" in registry.released
    assert registry.held["dee"][0] == "here"


def test_leaving_releases_the_name_but_a_session_keeps_it_for_its_grace() -> None:
    registry = Elsewhere()
    room = ChatRoom(registry=registry, resume_grace=60)
    room.connect("c1", nick="ann", token="t1")
    room.connect("c2", nick="bob")
    room.disconnect("c1", "connection lost", now=0.0)  # a session: held, not released
    room.disconnect("c2", "quit")
    assert registry.released == ["bob"]
    room.expire(61.0)
    assert registry.released == ["bob", "ann"]


def test_a_session_from_another_server_takes_its_name_over_silently() -> None:
    registry = Elsewhere()
    registry.held["ann"] = ("dead server", "ann", "t1")
    room = ChatRoom(registry=registry)
    name, actions = room.resume("c1", "127.0.0.1:5", "ann", "t1")
    assert name == "ann"
    assert not [a for a in actions if isinstance(a, Broadcast)]  # no join: it never left
    assert isinstance(actions[0], events.Notice)
    wrong, actions = room.resume("c2", "127.0.0.1:6", "ann", "not the token")
    assert wrong == "Client"
    assert "* Client joined" in texts(actions)


def test_letting_a_name_go_closes_its_connection_with_a_word_and_tells_nobody() -> None:
    room = ChatRoom(registry=Elsewhere())
    room.connect("c1", nick="ann")
    actions = room.let_go("ann")
    assert texts(actions) == ["* error: ann is now held on another server of this room; closing"]
    assert isinstance(actions[1], Close)
    assert "c1" not in room
    assert room.let_go("nobody") == []


def test_who_lists_the_other_servers_names_after_this_ones() -> None:
    registry = Elsewhere()
    registry.held["zed"] = ("other", "zed", "")
    room = ChatRoom(registry=registry)
    room.connect("c1", nick="ann")
    assert texts(room.receive("c1", "/who")) == ["* online: Server, ann, zed"]


def test_a_mirror_skips_a_gap_and_reads_across_it() -> None:
    log = MemoryLog(start=10)
    log.append([b"a\n", b"b\n"])
    log.skip(20)
    log.append([b"c\n"])
    assert log.end == 21
    assert b"".join(log.read(11)) == b"b\nc\n"
    assert log.bytes_after(11) == 4
    with pytest.raises(ValueError, match="cannot skip back"):
        log.skip(5)
