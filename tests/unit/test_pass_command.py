"""``/pass`` on the wire: parsing, password rules, and what the room does with it."""

from __future__ import annotations

import pytest

from tcpchat import protocol
from tcpchat.protocol import Pass, parse_command
from tcpchat.room import ChatRoom, Reply


@pytest.mark.parametrize(
    ("line", "secret"),
    [("/pass hunter2", "hunter2"), ("/PASS  two words ", "two words"), ("/pass", "")],
)
def test_pass_lines_parse_to_their_secret(line: str, secret: str) -> None:
    assert parse_command(line) == Pass(secret)


def test_a_secret_never_shows_in_a_repr() -> None:
    assert "hunter2" not in repr(Pass("hunter2"))


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("", "at least one character"),
        ("x" * 257, "at most 256"),
        (" padded", "start or end with a space"),
        ("bell\x07", "control characters"),
        ("tab\there", "control characters"),
    ],
)
def test_unusable_passwords_are_explained(secret: str, problem: str) -> None:
    assert problem in (protocol.validate_password(secret) or "")


def test_a_good_password_passes() -> None:
    assert protocol.validate_password("correct horse battery staple") is None


def test_pass_inside_the_room_is_answered_without_a_hint_about_any_password() -> None:
    room = ChatRoom()
    room.connect("a")
    room.connect("b")
    assert room.receive("a", "/pass hunter2") == [Reply("a", "* " + protocol.ALREADY_IN.format())]


def test_final_refusals_are_notices_a_client_can_recognise() -> None:
    for refusal in protocol.FINAL_REFUSALS:
        line = protocol.parse_server_line(protocol.format_notice(refusal))
        assert line.kind is protocol.Kind.NOTICE
        assert line.text.startswith("error: ")
