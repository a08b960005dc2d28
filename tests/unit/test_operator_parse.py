"""tcpchat.operator.parse_operator_line: what the operator typed, as a command (pure)."""

from __future__ import annotations

import pytest

from tcpchat.operator import KICK_REASON, Kick, Say, Unknown, parse_operator_line
from tcpchat.protocol import Help, Quit, Who


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("Hai client!", Say("Hai client!")),
        ("  indented", Say("  indented")),
        ("//shrug", Say("/shrug")),
        ("///", Say("//")),
        ("/who", Who()),
        ("/WHO extra words", Who()),
        ("/help", Help()),
        ("/quit", Quit()),
        ("/kick budi", Kick("budi", KICK_REASON)),
        ("/kick  budi   too noisy ", Kick("budi", "too noisy")),
        ("/kick", Kick("", KICK_REASON)),
        ("/nick Boss", Unknown("nick")),  # the operator's name is --nick / TCPCHAT_NICK
        ("/", Unknown("")),
        ("/whoo", Unknown("whoo")),
        ("/x\x1b[31m", Unknown("x␛[31m")),  # shown to the operator: neutralised
    ],
)
def test_parse_operator_line(typed: str, command: object) -> None:
    assert parse_operator_line(typed) == command


@pytest.mark.parametrize("typed", ["", " ", "\t"])
def test_a_blank_line_is_nothing(typed: str) -> None:
    assert parse_operator_line(typed) is None
