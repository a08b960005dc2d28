"""Protocol and room rules that the mutation run showed untested (issue 16).

Each test here kills named mutmut survivors: the exact words users read (a test
that checks only "an error came" lets any wording through), the edges of the
framing, the control-character table and the password rules.
"""

from __future__ import annotations

import pytest

from tcpchat import events, protocol
from tcpchat.protocol import Kind, LineBuffer, Pass, ServerLine
from tcpchat.room import Broadcast, ChatRoom, Reply


def test_the_control_character_table_covers_c0_del_and_c1_but_not_tab() -> None:
    table = protocol._build_neutraliser()
    expected = {code: chr(0x2400 + code) for code in range(0x20) if code != 0x09}
    expected[0x7F] = "\u2421"
    expected.update(dict.fromkeys(range(128, 160), "�"))
    layout = [
        0x2028,
        0x2029,
        0x061C,
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
    expected.update(dict.fromkeys(layout, "\ufffd"))  # issue 15 item 13: no pictures either
    assert table == expected
    assert protocol.neutralise("\x00\x1f\x7f\x80\x9f\t ~\xa0") == "␀␟␡\ufffd\ufffd\t ~\xa0"


def test_a_chunk_starting_with_the_newline_ends_the_discarding() -> None:
    buffer = LineBuffer(3)
    assert buffer.feed(b"abcdef") == [protocol.LineTooLong(6, 3)]
    assert buffer.discarding
    assert buffer.feed(b"\nok\n") == [protocol.Line("ok")]
    assert buffer.discarding is False


@pytest.mark.parametrize(
    ("text", "secret"), [("/pass s3cret", "s3cret"), ("/PASS  two words ", "two words")]
)
def test_pass_parses_with_its_secret_stripped(text: str, secret: str) -> None:
    assert protocol.parse_command(text) == Pass(secret)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("", "a password needs at least one character"),
        ("x" * 256, None),
        ("x" * 257, "a password has at most 256 characters"),
        (" x", "a password cannot start or end with a space"),
        ("x ", "a password cannot start or end with a space"),
        ("a\tb", "a password cannot contain control characters"),
        ("a\x1bb", "a password cannot contain control characters"),
        ("with inner space", None),
    ],
)
def test_password_rules(secret: str, problem: str | None) -> None:
    assert protocol.validate_password(secret) == problem


def test_a_chat_line_splits_at_its_first_separator() -> None:
    assert protocol.parse_server_line("ann: a: b") == ServerLine(Kind.CHAT, "a: b", "ann")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "a nickname needs at least one character"),
        ("a b", "a nickname cannot contain spaces"),
        ("a:b", "a nickname cannot contain ':'"),
        ("a\tb", "a nickname cannot contain spaces"),  # a tab is whitespace first
        ("a\x07", "a nickname cannot contain control characters"),
        ("*star", "a nickname cannot start with '*', '/' or '~'"),
        ("/slash", "a nickname cannot start with '*', '/' or '~'"),
        ("X", None),
        ("XX", None),
        ("a*", None),
    ],
)
def test_nickname_problems_say_exactly_what_is_wrong(name: str, problem: str | None) -> None:
    assert protocol.validate_nick(name) == problem


def test_help_pass_and_unknown_replies_go_to_the_asker_in_these_words() -> None:
    room = ChatRoom()
    room.connect("a")
    assert room.receive("a", "/help") == [Reply("a", "* commands: " + protocol.COMMAND_HELP)]
    assert room.receive("a", "/pass secret") == [
        Reply("a", "* you are already in: /pass is only for the first line, when a server asks")
    ]
    assert room.receive("a", "/frob") == [
        Reply(
            "a",
            "* error: unknown command /frob; type /help for the commands, "
            "or // to send a leading /",
        )
    ]


def test_renaming_to_ones_own_name_is_a_reply_and_frees_nothing() -> None:
    room = ChatRoom()
    room.connect("a")
    room.connect("b")
    assert room.receive("a", "/nick Client") == [Reply("a", "* you are already Client")]
    actions = room.receive("a", "/nick ann")
    assert Broadcast("* Client is now ann") in actions
    # The observer event, the same type the front ends receive.
    renamed = [a for a in actions if isinstance(a, events.Renamed)]
    assert [(r.old, r.new) for r in renamed] == [("Client", "ann")]
    # The old name is free again (case-insensitively), the new one is not.
    assert room.receive("b", "/nick client")[-1] == Broadcast("* Client2 is now client")
    assert "taken" in room.receive("b", "/nick ANN")[0].line  # type: ignore[union-attr]


def test_connecting_twice_is_a_programming_error_that_names_the_connection() -> None:
    room = ChatRoom()
    room.connect("a")
    with pytest.raises(ValueError, match=r"^connection 'a' is already in the room$"):
        room.connect("a")


def test_default_nicks_skip_a_number_someone_took_and_keep_counting_up() -> None:
    room = ChatRoom()
    room.connect("a")
    room.connect("b")
    room.receive("b", "/nick Client3")  # takes the next number by hand
    room.connect("c")
    room.connect("d")
    assert [room.nick_of(c) for c in "abcd"] == ["Client", "Client3", "Client4", "Client5"]


def test_encoding_never_fails_on_unpaired_surrogates() -> None:
    assert protocol.encode_line("a\ud800b") == b"a?b\n"


def test_the_line_buffer_refusal_says_exactly_what() -> None:
    with pytest.raises(ValueError, match=r"^max_line_bytes must be at least 1$"):
        LineBuffer(0)


def test_a_fresh_buffer_holds_nothing_and_is_not_discarding() -> None:
    buffer = LineBuffer()
    assert buffer.pending_bytes == 0
    assert buffer.discarding is False
