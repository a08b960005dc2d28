"""The sans-IO protocol: framing, hygiene, commands, nicknames — no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpchat import protocol
from tcpchat.protocol import (
    Chat,
    Help,
    Kind,
    Line,
    LineBuffer,
    LineTooLong,
    Nick,
    Quit,
    Unknown,
    Who,
)


def feed_all(buffer: LineBuffer, chunks: list[bytes]) -> list[protocol.FrameEvent]:
    events: list[protocol.FrameEvent] = []
    for chunk in chunks:
        events += buffer.feed(chunk)
    return events


def test_many_lines_in_one_chunk_come_out_whole_and_in_order() -> None:
    assert LineBuffer().feed(b"one\ntwo\r\nthree\n") == [Line("one"), Line("two"), Line("three")]


def test_a_line_split_byte_by_byte_comes_out_once_at_its_newline() -> None:
    data = b"Halo server!\n"
    events = feed_all(LineBuffer(), [data[i : i + 1] for i in range(len(data))])
    assert events == [Line("Halo server!")]


def test_unfinished_tail_is_kept_until_its_newline() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b"par") == []
    assert buffer.pending_bytes == 3
    assert buffer.feed(b"tial\nnext") == [Line("partial")]
    assert buffer.pending_bytes == 4


def test_invalid_utf8_becomes_replacement_characters_never_an_error() -> None:
    assert LineBuffer().feed(b"caf\xc3\n\xff\xfe ok\n") == [
        Line("caf\ufffd"),
        Line("\ufffd\ufffd ok"),
    ]


def test_escape_sequences_and_control_characters_are_made_visible_not_relayed() -> None:
    [line] = LineBuffer().feed(b"\x1b[2J\x07bell\tTab\x7f\xc2\x9b\n")
    assert isinstance(line, Line)
    assert line.text == "\u241b[2J\u2407bell\tTab\u2421\ufffd"
    assert not any(ord(ch) < 0x20 and ch != "\t" for ch in line.text)


def test_a_line_at_the_limit_passes_and_one_byte_more_is_reported() -> None:
    buffer = LineBuffer(max_line_bytes=5)
    assert buffer.feed(b"12345\n123456\n12345\r\n") == [
        Line("12345"),
        LineTooLong(6, 5),
        Line("12345"),
    ]


def test_an_endless_line_is_discarded_as_it_streams_with_bounded_memory() -> None:
    buffer = LineBuffer(max_line_bytes=100)
    assert buffer.feed(b"x" * 1000) == [LineTooLong(1000, 100)]
    for _ in range(1000):
        assert buffer.feed(b"x" * 1000) == []
        assert buffer.pending_bytes <= 101
    assert buffer.discarding
    assert buffer.feed(b"tail\nafter\n") == [Line("after")]
    assert not buffer.discarding


def test_max_line_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LineBuffer(max_line_bytes=0)


lines_strategy = st.lists(
    st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=40), max_size=20
)


@given(lines=lines_strategy, data=st.data())
def test_any_segmentation_of_a_stream_yields_the_same_lines(
    lines: list[str], data: st.DataObject
) -> None:
    stream = b"".join(line.encode("utf-8", "surrogatepass") + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=False)]
    expected = LineBuffer(max_line_bytes=10_000).feed(stream)
    assert feed_all(LineBuffer(max_line_bytes=10_000), chunks) == expected
    assert len(expected) == len(lines)


@given(st.binary(max_size=300), st.integers(1, 50))
def test_arbitrary_bytes_never_raise_and_never_yield_raw_controls(
    stream: bytes, limit: int
) -> None:
    buffer = LineBuffer(max_line_bytes=limit)
    for event in buffer.feed(stream) + buffer.feed(b"\n"):
        assert buffer.pending_bytes <= limit + 1
        if isinstance(event, Line):
            assert len(event.text.encode("utf-8", "surrogatepass")) <= 3 * limit
            assert all(ord(ch) >= 0x20 or ch == "\t" for ch in event.text)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("hello", Chat("hello")),
        ("/nick Budi", Nick("Budi")),
        ("/NICK  Budi ", Nick("Budi")),
        ("/who", Who()),
        ("/help", Help()),
        ("/quit", Quit()),
        ("//etc/passwd", Chat("/etc/passwd")),
        ("/dance", Unknown("dance")),
        ("", None),
        ("   ", None),
    ],
)
def test_client_lines_parse_to_commands(text: str, command: protocol.Command | None) -> None:
    assert protocol.parse_command(text) == command


def test_escape_chat_round_trips_through_the_parser() -> None:
    for text in ["/who", "plain", "//double"]:
        assert protocol.parse_command(protocol.escape_chat(text)) == Chat(text)


@pytest.mark.parametrize(
    ("line", "kind", "nick", "text"),
    [
        ("Server: Hai client!", Kind.CHAT, "Server", "Hai client!"),
        ("* Budi joined", Kind.NOTICE, "", "Budi joined"),
        ("no separator here", Kind.NOTICE, "", "no separator here"),
        ("has space: in nick", Kind.NOTICE, "", "has space: in nick"),
    ],
)
def test_server_lines_split_into_chat_and_notices(
    line: str, kind: Kind, nick: str, text: str
) -> None:
    parsed = protocol.parse_server_line(line)
    assert (parsed.kind, parsed.nick, parsed.text) == (kind, nick, text)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Budi", None),
        ("x" * 32, None),
        ("", "at least one"),
        ("x" * 33, "at most 32"),
        ("two words", "spaces"),
        ("a:b", "':'"),
        ("bell\x07", "control"),
        ("tab\there", "spaces"),
        ("*star", "start with"),
        ("/slash", "start with"),
    ],
)
def test_nickname_rules(name: str, problem: str | None) -> None:
    reason = protocol.validate_nick(name)
    if problem is None:
        assert reason is None
    else:
        assert reason is not None
        assert problem in reason


def test_encode_line_adds_exactly_one_newline() -> None:
    assert protocol.encode_line("Client: Halo server!") == b"Client: Halo server!\n"
