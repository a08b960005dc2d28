"""Every line the room can produce fits in MAX_SERVER_LINE_BYTES (issue 15 item 12)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpchat import protocol
from tcpchat.room import Action, Broadcast, ChatRoom, Reply

LIMIT = protocol.MAX_SERVER_LINE_BYTES


def _lines(actions: list[Action]) -> list[str]:
    return [a.line for a in actions if isinstance(a, (Broadcast, Reply))]


def _fits(actions: list[Action]) -> None:
    for line in _lines(actions):
        assert len(protocol.encode_line(line)) - 1 <= LIMIT, len(line.encode())


def test_the_limit_is_the_longest_nick_and_the_longest_text() -> None:
    assert LIMIT == protocol.MAX_NICK_BYTES + 2 + protocol.MAX_TEXT_BYTES == 4162


def _longest_nick_room() -> ChatRoom:
    room = ChatRoom()
    room.connect(1)
    room.receive(1, "/nick " + "\u00e9" * 32)  # 64 bytes: the longest name
    return room


def test_a_longest_nick_and_a_longest_line_is_one_line_at_the_limit() -> None:
    room = _longest_nick_room()
    lines = _lines(room.receive(1, protocol.decode_line(b"x" * protocol.MAX_LINE_BYTES)))
    assert [len(line.encode()) for line in lines] == [LIMIT]


def test_a_line_of_escapes_is_split_not_cut() -> None:
    room = _longest_nick_room()
    text = protocol.decode_line(b"\x1b" * 2000)  # 6000 bytes once neutralised
    actions = room.receive(1, text)
    lines = _lines(actions)
    assert len(lines) == 2
    _fits(actions)
    nick = room.nick_of(1)
    assert "".join(line.removeprefix(f"{nick}: ") for line in lines) == text


def test_who_with_400_clients_is_split_and_names_everyone_once() -> None:
    room = ChatRoom()
    for connection in range(400):
        room.connect(connection)
    actions = room.receive(0, "/who")
    assert len(actions) >= 2
    _fits(actions)
    names = []
    for line in _lines(actions):
        fields = protocol.ONLINE.parse(line.removeprefix("* "))
        assert fields is not None
        names += fields["nicks"].split(", ")
    assert names == room.nicks()


def test_who_at_the_limit_is_one_line() -> None:
    room = ChatRoom()
    room.connect(0)
    head = len("* online: Server, Client, ")
    room.connect(1)
    room.receive(1, "/nick " + "a" * 32)
    # Fill with names until the next one would overflow exactly at the limit.
    connection = 2
    while True:
        size = len(_lines(room.receive(0, "/who"))[0].encode())
        if LIMIT - size < 34:
            break
        room.connect(connection)
        connection += 1
    assert head < LIMIT
    assert len(_lines(room.receive(0, "/who"))) == 1


def test_operator_text_and_unknown_commands_and_reasons_are_bounded() -> None:
    room = ChatRoom()
    room.connect(1)
    _fits(room.operator_says("\x1b" * 10000))
    _fits(room.receive(1, "/" + "\u2400" * 5000))
    _fits(room.disconnect(1, "r" * 10000))


texts = st.text(st.characters(codec="utf-8"), max_size=protocol.MAX_LINE_BYTES).filter(
    lambda t: len(t.encode()) <= protocol.MAX_LINE_BYTES
)
names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(nick=names, text=texts, raw=st.binary(max_size=protocol.MAX_LINE_BYTES))
def test_every_line_the_room_produces_fits(nick: str, text: str, raw: bytes) -> None:
    room = ChatRoom()
    for connection in range(3):
        _fits(room.connect(connection))
    _fits(room.receive(1, "/nick " + nick))
    for line in (protocol.decode_line(raw), protocol.decode_line(text.encode())):
        for connection in range(3):
            _fits(room.receive(connection, line))
    _fits(room.receive(0, "/who"))
    _fits(room.receive(0, "/help"))
    _fits(room.operator_says(text))
    _fits(room.disconnect(1, text))
