"""The room's Registry seam: names held by other servers of a cluster (pure, no Redis).

A dict stands in for Redis here; the real registry (tcpchat.server.cluster.Names
over tcpchat.presence) is tested against a real redis-server in tests/redis_store.
"""

from __future__ import annotations

import pytest

from tcpchat import events, protocol
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


# -- the session paths, action by action (each test pins what a mutant would change) --------


def test_a_resume_on_a_still_open_connection_moves_the_name_and_closes_the_old_one() -> None:
    room = ChatRoom(resume_grace=60)
    room.connect("old", nick="ann", token="t1")
    name, actions = room.resume("new", "127.0.0.1:7", "whatever", "t1")
    assert (name, actions) == ("ann", [Close("old"), events.Notice("ann resumed from 127.0.0.1:7")])
    assert room.nick_of("new") == "ann"
    assert "old" not in room
    assert room.disconnect("new", "reset", now=0.0) == [
        events.Notice("ann dropped (reset); the name is kept 60 s")
    ]  # the token moved with the name: held again for it


def test_a_resume_within_the_grace_takes_the_held_name_back_silently() -> None:
    room = ChatRoom(resume_grace=60)
    room.connect("old", nick="ann", token="t1")
    room.disconnect("old", "reset", now=0.0)
    name, actions = room.resume("new", "127.0.0.1:8", "ann", "t1")
    assert (name, actions) == ("ann", [events.Notice("ann resumed from 127.0.0.1:8")])
    assert room.nick_of("new") == "ann"
    assert room.expire(100.0) == []  # nothing held any more
    assert room.disconnect("new", "reset", now=1.0) != []  # and its token came with it


def test_a_resume_of_an_unknown_session_joins_anew_under_its_token() -> None:
    registry = Elsewhere()
    room = ChatRoom(registry=registry)
    name, actions = room.resume("c1", "127.0.0.1:9", "ann", "t9")
    assert (name, actions) == (
        "ann",
        [events.Joined("ann", "127.0.0.1:9"), Broadcast("* ann joined")],
    )
    assert registry.held["ann"] == ("here", "ann", "t9")
    room.receive("c1", "/nick bea")
    assert registry.held["bea"] == ("here", "bea", "t9")  # a rename keeps the session's token


def test_a_taken_over_name_is_this_rooms_with_its_token() -> None:
    registry = Elsewhere()
    registry.held["ann"] = ("dead server", "ann", "t1")
    room = ChatRoom(registry=registry, resume_grace=60)
    _, actions = room.resume("c1", "127.0.0.1:5", "ann", "t1")
    assert actions == [events.Notice("ann resumed from 127.0.0.1:5, from another server")]
    assert room.nick_of("c1") == "ann"
    assert "ANN is already taken" in texts(room.connect("c2", nick="ANN"))[1]
    assert room.disconnect("c1", "reset", now=0.0) == [
        events.Notice("ann dropped (reset); the name is kept 60 s")
    ]


def test_expiring_graces_says_each_leave_once_in_order() -> None:
    registry = Elsewhere()
    room = ChatRoom(registry=registry, resume_grace=10)
    room.connect("a", nick="ann", token="ta")
    room.connect("b", nick="bob", token="tb")
    room.disconnect("a", "reset", now=0.0)
    room.disconnect("b", "reset", now=1.0)
    assert room.expire(20.0) == [
        events.Left("ann", "connection lost"),
        Broadcast("* ann left (connection lost)"),
        events.Left("bob", "connection lost"),
        Broadcast("* bob left (connection lost)"),
    ]
    assert registry.released == ["ann", "bob"]
    assert (
        texts(room.connect("c", nick="ann"))[0]
        == "* welcome, you are ann; type /help for the commands"
    )


def test_letting_go_gives_the_exact_word_frees_the_name_and_forgets_a_held_one() -> None:
    room = ChatRoom(registry=Elsewhere(), resume_grace=60)
    room.connect("c1", nick="ann", token="t1")
    assert room.let_go("ann") == [
        Reply("c1", "* error: ann is now held on another server of this room; closing"),
        Close("c1"),
        events.Notice("ann is now on another server of this room"),
    ]
    room.connect("c2", nick="bob", token="t2")
    room.disconnect("c2", "reset", now=0.0)  # bob's name is held for t2
    assert room.let_go("bob") == [events.Notice("bob resumed on another server of this room")]
    assert room.expire(100.0) == []  # no longer held: no leave to announce
    assert room.connect("c3", nick="bob")[0] == events.Joined("bob", "")
    assert room.resume("c4", "p", "ann", "t1")[0] == "ann"  # ann's name is free here too


def test_who_fills_a_line_to_the_byte_and_starts_another_past_it() -> None:
    room_bytes = protocol.MAX_SERVER_LINE_BYTES - len("* online: ")
    last_bytes = 10 + (room_bytes - 10) % 12  # names of 10 bytes and ", " fill the rest
    others = (room_bytes - last_bytes) // 12  # the operator's and the clients' before it
    room = ChatRoom(operator_nick="S" * 10)
    for number in range(others - 1):
        room.connect(f"c{number}", nick=f"n{number:09d}")
    room.connect("last", nick="x" * last_bytes)
    lines = texts(room.receive("c0", "/who"))
    assert len(lines) == 1
    assert len(lines[0].encode()) == protocol.MAX_SERVER_LINE_BYTES  # full to the byte
    room.connect("one more", nick="y")
    lines = texts(room.receive("c0", "/who"))
    assert lines[1] == "* online: y"
    names = [name for line in lines for name in line.removeprefix("* online: ").split(", ")]
    assert names == room.nicks()
