"""The client's session: hello/resume lines, counting, acknowledgement by echo, pending lines."""

from __future__ import annotations

import pytest

from tcpchat.session import PendingFull, Session, expected_echo


def test_a_new_session_says_hello_with_or_without_a_nick() -> None:
    assert Session().hello_line() == "/hello"
    assert Session(nick="Eve").hello_line() == "/hello Eve"


def test_once_started_it_resumes_where_it_is() -> None:
    session = Session(nick="Eve")
    assert session.started("tok", "log1", 7) is True
    session.received("Bob: hi")
    session.received("* Carol joined")
    assert session.hello_line() == "/resume log1 9 Eve tok"


def test_another_log_id_is_reported_as_a_reset() -> None:
    session = Session(nick="Eve")
    session.started("tok", "log1", 7)
    assert session.started("tok2", "log2", 0) is False
    assert (session.token, session.log_id, session.position) == ("tok2", "log2", 0)


def test_only_the_echo_of_its_own_chat_acknowledges_it() -> None:
    session = Session(nick="Eve")
    session.started("tok", "log1", 0)
    session.sent("hello")
    session.sent("/who")  # a command: never echoed, never sent again
    session.sent("//slash")  # chat of the literal text "/slash"
    session.received("Bob: hello")  # someone else saying the same
    session.received("Eve: hello")
    assert list(session.unacked) == ["/slash"]
    assert session.to_send_after_resume() == ["//slash"]  # escaped again to stay chat
    assert not session.unacked


def test_pending_lines_come_after_the_unacknowledged_ones() -> None:
    session = Session(nick="Eve")
    session.sent("in flight")
    session.queue("typed while away")
    assert session.to_send_after_resume() == ["in flight", "typed while away"]
    assert not session.pending


def test_pending_is_bounded_at_the_limit_with_a_message() -> None:
    session = Session()
    for number in range(Session.max_pending_lines):
        session.queue(f"line {number}")
    with pytest.raises(PendingFull, match="100 lines are already waiting"):
        session.queue("one too many")
    assert len(session.pending) == Session.max_pending_lines


def test_pending_bytes_are_bounded_at_the_limit() -> None:
    session = Session()
    session.queue("x" * (Session.max_pending_bytes - 1))
    session.queue("y")  # exactly at the limit
    with pytest.raises(PendingFull):
        session.queue("z")


def test_the_echo_is_what_the_room_relays() -> None:
    assert expected_echo("plain") == "plain"
    assert expected_echo("//x") == "/x"
    assert expected_echo("bell\x07") == "bell\u2407"  # neutralised as the server does
    assert expected_echo("/nick Bob") is None
    assert expected_echo("   ") is None


def test_an_echo_acknowledges_the_unechoed_lines_sent_before_it() -> None:
    session = Session(nick="Eve")
    session.started("tok", "log1", 0)
    session.sent("refused by the room")
    session.sent("second")
    session.sent("third")
    session.received("Eve: second")
    assert list(session.unacked) == ["third"]
