"""Nicknames cannot be invisible, direction-changing or look-alikes (issue 15 item 13)."""

from __future__ import annotations

import pytest

from tcpchat import nicks, protocol
from tcpchat.room import Broadcast, ChatRoom, Reply

IMPOSTORS = [
    "Server\u200b",  # zero-width space
    "Server\u2060",  # word joiner
    "Ser\u00adver",  # soft hyphen
    "\u202erevreS",  # right-to-left override: shows as "Server"
    "\u0405erver",  # Cyrillic DZE
    "\u0405\u0435rv\u0435r",  # Cyrillic DZE and IE
    "SERVER",
    "\uff33erver",  # full-width S (NFKC makes it Server)
    "5erver",
    "Serv\u0435r",  # Cyrillic ie
    "S\u0435rv\u0435r\ufe0f",  # variation selector
]
INVISIBLE = ["\u200b", "\u2800", "\u3164", "\u2800\u2800", "\u115f", "\ufe0f", "\U000e0041"]


def _refusal(room: ChatRoom, name: str) -> str:
    actions = room.receive(1, f"/nick {name}")
    assert len(actions) == 1, actions
    assert isinstance(actions[0], Reply)
    return actions[0].line


@pytest.mark.parametrize("name", IMPOSTORS)
def test_a_look_alike_of_the_operator_is_refused(name: str) -> None:
    room = ChatRoom()
    room.connect(1)
    assert "cannot change nickname" in _refusal(room, name)
    assert room.nick_of(1) == "Client"


@pytest.mark.parametrize("name", INVISIBLE)
def test_an_invisible_name_is_refused(name: str) -> None:
    room = ChatRoom()
    room.connect(1)
    assert "cannot change nickname" in _refusal(room, name)
    assert protocol.validate_nick(name) is not None


def test_a_look_alike_of_another_client_is_refused_and_freed_when_they_go() -> None:
    room = ChatRoom()
    room.connect(1)
    room.connect(2)
    assert isinstance(room.receive(1, "/nick Budi")[-1], Broadcast)
    assert "\u0412udi is already taken" in _refusal_of(room, 2, "\u0412udi")  # Cyrillic VE
    room.disconnect(1, "quit")
    assert isinstance(room.receive(2, "/nick \u0412udi")[-1], Broadcast)


@pytest.mark.parametrize("taken", ["alice", "ALICE", "Alice", "AL1CE", "al\u0456ce"])
def test_a_name_in_another_case_is_the_same_name_i_and_l_included(taken: str) -> None:
    # A capital I looks like an l, so it folds to l; a small i must fold with it.
    room = ChatRoom()
    room.connect(1)
    room.connect(2)
    assert isinstance(room.receive(1, f"/nick {taken}")[-1], Broadcast)
    for other in {"alice", "ALICE", "Alice", "aLice"} - {taken}:
        assert "is already taken" in _refusal_of(room, 2, other)


def _refusal_of(room: ChatRoom, connection: int, name: str) -> str:
    actions = room.receive(connection, f"/nick {name}")
    assert isinstance(actions[0], Reply)
    return actions[0].line


def test_the_name_kept_is_the_nfkc_form() -> None:
    room = ChatRoom()
    room.connect(1)
    room.receive(1, "/nick \uff22udi")  # full-width B
    assert room.nick_of(1) == "Budi"


def test_a_changed_case_of_ones_own_name_is_allowed() -> None:
    room = ChatRoom()
    room.connect(1)
    room.receive(1, "/nick budi")
    assert room.receive(1, "/nick Budi")[-1] == Broadcast("* budi is now Budi")


@pytest.mark.parametrize(
    "name", ["Budi", "日本語", "Zoë", "\u0411\u043e\u0440\u0438\u0441", "a_b-c.d", "7"]
)
def test_ordinary_names_of_any_script_are_accepted(name: str) -> None:
    assert nicks.problem(name) is None


def test_the_nickname_limits_are_in_characters_and_in_bytes_at_the_limit() -> None:
    assert nicks.problem("a" * nicks.MAX_NICK_LENGTH) is None
    assert nicks.problem("a" * (nicks.MAX_NICK_LENGTH + 1)) is not None
    assert nicks.problem("\u00e9" * 32) is None  # 64 bytes: at the limit
    assert nicks.problem("\u00e9" * 31 + "\u65e5") is not None  # 65 bytes
    assert "bytes" in str(nicks.problem("\u65e5" * 22))


def test_chat_text_loses_its_bidi_controls_and_line_separators() -> None:
    text = protocol.decode_line("a\u202eb\u2028c\u2029d\u2066e\u200ff".encode())
    assert text == "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf"
    assert (
        protocol.decode_line("emoji \u200d and \u00ad stay".encode())
        == "emoji \u200d and \u00ad stay"
    )


def test_a_bad_operator_name_is_refused_when_the_room_is_made() -> None:
    with pytest.raises(ValueError, match="invisible"):
        ChatRoom(operator_nick="Server\u200b")
