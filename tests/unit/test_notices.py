"""Every notice the server sends has one template: what the room formats, the client parses."""

from __future__ import annotations

import pytest

from tcpchat import protocol
from tcpchat.room import Broadcast, ChatRoom, Reply

SAMPLES = {
    "nick": "Budi",
    "old": "Client",
    "new": "Budi",
    "reason": "too slow: fell 5 bytes behind",
    "nicks": "Server, Client",
    "commands": protocol.COMMAND_HELP,
    "problem": "Budi is already taken",
    "name": "frob",
    "limit": "4096",
    "rate": "5",
    "grace": "10",
    "host": "127.0.0.1",
    "token": "0123456789abcdef0123456789abcdef",
    "log_id": "0123456789abcdef",
    "position": "42",
    "count": "12",
    "missed": "40",
}


@pytest.mark.parametrize("notice", protocol.NOTICES, ids=lambda notice: notice.name)
def test_every_notice_parses_back_to_what_it_was_formatted_with(
    notice: protocol.NoticeFormat,
) -> None:
    fields = {name: SAMPLES[name] for name in notice.fields}
    text = notice.format(**fields)
    assert notice.parse(text) == fields
    found = protocol.parse_notice(text)
    assert found is not None
    assert found[0] is notice


def test_notices_are_told_apart_and_chat_is_not_a_notice() -> None:
    assert protocol.WELCOME.parse("Budi is now Andi") is None
    assert protocol.RENAMED.parse("welcome, you are Budi; type /help for the commands") is None
    assert protocol.parse_notice("something the server never says") is None
    assert protocol.CLOSING.parse(protocol.PASSWORD_WRONG) == {"reason": "wrong password"}


def test_what_the_room_says_is_what_the_client_reads() -> None:
    room = ChatRoom()
    said = [*room.connect("a"), *room.receive("a", "/nick Budi"), *room.receive("a", "/quit")]
    texts = [a.line[2:] for a in said if isinstance(a, (Broadcast, Reply))]
    assert protocol.WELCOME.parse(texts[0]) == {"nick": "Client"}
    assert protocol.JOINED.parse(texts[1]) == {"nick": "Client"}
    assert protocol.RENAMED.parse(texts[2]) == {"old": "Client", "new": "Budi"}
    assert protocol.BYE.parse(texts[3]) == {}
    assert protocol.LEFT.parse(texts[4]) == {"nick": "Budi", "reason": "quit"}
