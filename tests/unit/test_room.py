"""The chat room state machine, driven by plain calls (no sockets, no threads)."""

from __future__ import annotations

from tcpchat.events import Joined, Left, Message, Renamed
from tcpchat.room import Broadcast, ChatRoom, Close, Reply


def lines_for(actions: list[object], connection: object) -> list[str]:
    """What *connection* would receive from these actions."""
    return [
        a.line
        for a in actions
        if isinstance(a, Broadcast) or (isinstance(a, Reply) and a.connection == connection)
    ]


def test_first_connection_is_called_client_and_everyone_hears_of_it() -> None:
    room = ChatRoom()
    actions = room.connect("a", "127.0.0.1:5000")
    assert Joined("Client", "127.0.0.1:5000") in actions
    assert Broadcast("* Client joined") in actions
    assert any(isinstance(a, Reply) and "you are Client" in a.line for a in actions)


def test_default_nicknames_are_unique() -> None:
    room = ChatRoom()
    for connection in "abc":
        room.connect(connection)
    assert room.nicks() == ["Server", "Client", "Client2", "Client3"]


def test_chat_is_broadcast_with_the_senders_nick_including_to_the_sender() -> None:
    room = ChatRoom()
    room.connect("a")
    assert room.receive("a", "Halo server!") == [
        Message("Client", "Halo server!"),
        Broadcast("Client: Halo server!"),
    ]


def test_double_slash_sends_a_literal_slash() -> None:
    room = ChatRoom()
    room.connect("a")
    assert Broadcast("Client: /shrug") in room.receive("a", "//shrug")


def test_rename_is_announced_and_collisions_keep_the_old_name() -> None:
    room = ChatRoom()
    room.connect("a")
    room.connect("b")
    assert room.receive("a", "/nick Budi") == [
        Renamed("Client", "Budi"),
        Broadcast("* Client is now Budi"),
    ]
    [reply] = room.receive("b", "/nick budi")
    assert isinstance(reply, Reply)
    assert "already taken" in reply.line
    assert "still Client2" in reply.line
    assert room.nick_of("b") == "Client2"


def test_nobody_can_take_the_operators_name_or_an_invalid_one() -> None:
    room = ChatRoom()
    room.connect("a")
    assert "already taken" in lines_for(room.receive("a", "/nick server"), "a")[0]
    assert "cannot start with" in lines_for(room.receive("a", "/nick *x"), "a")[0]
    assert "at least one" in lines_for(room.receive("a", "/nick"), "a")[0]
    assert room.nick_of("a") == "Client"


def test_a_freed_nickname_can_be_taken_again() -> None:
    room = ChatRoom()
    room.connect("a")
    room.connect("b")
    room.receive("a", "/nick Budi")
    room.disconnect("a", "quit")
    assert Renamed("Client2", "Budi") in room.receive("b", "/nick Budi")


def test_who_and_help_answer_only_the_asker() -> None:
    room = ChatRoom()
    room.connect("a")
    room.connect("b")
    [who] = room.receive("a", "/who")
    assert who == Reply("a", "* online: Server, Client, Client2")
    [help_reply] = room.receive("b", "/help")
    assert isinstance(help_reply, Reply)
    assert help_reply.connection == "b"
    assert "/nick" in help_reply.line


def test_quit_says_bye_closes_and_tells_the_others() -> None:
    room = ChatRoom()
    room.connect("a")
    actions = room.receive("a", "/quit")
    assert actions == [
        Reply("a", "* bye"),
        Close("a"),
        Left("Client", "quit"),
        Broadcast("* Client left (quit)"),
    ]
    assert "a" not in room


def test_disconnect_is_idempotent() -> None:
    room = ChatRoom()
    room.connect("a")
    assert room.disconnect("a", "connection reset by peer")
    assert room.disconnect("a", "again") == []


def test_unknown_commands_and_empty_lines() -> None:
    room = ChatRoom()
    room.connect("a")
    [reply] = room.receive("a", "/dance")
    assert isinstance(reply, Reply)
    assert "unknown command /dance" in reply.line
    assert room.receive("a", "   ") == []


def test_operator_chat_is_neutralised_and_blank_is_ignored() -> None:
    room = ChatRoom()
    assert room.operator_says("Hai client!\x1b") == [
        Message("Server", "Hai client!\u241b", own=True),
        Broadcast("Server: Hai client!\u241b"),
    ]
    assert room.operator_says("  ") == []
