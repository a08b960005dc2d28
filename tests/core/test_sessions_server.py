"""Sessions, the server's side (issue 11): /hello, history on join, /resume, grace.

Real sockets on loopback: a raw peer speaks the protocol by hand, as a
session client (or ``nc``) would.  See docs/protocol.md, "Sessions".
"""

from __future__ import annotations

import re
import threading

import pytest
from harness import RawPeer, joined_peer

from tcpchat import events, protocol
from tcpchat.chatlog import MemoryLog
from tcpchat.guard import Limits
from tcpchat.server import ChatServer

SESSION = re.compile(r"^~\* session (\w+) in (\w+) at (\d+)$")


class Notices:
    """The operator's notices (an observer), to wait for what the room did."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.texts: list[str] = []

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.Notice):
            with self.changed:
                self.texts.append(event.text)
                self.changed.notify_all()

    def wait_for(self, pattern: str) -> None:
        with self.changed:
            found = self.changed.wait_for(
                lambda: any(re.search(pattern, text) for text in self.texts), 30
            )
        assert found, (pattern, self.texts)


@pytest.fixture
def notices() -> Notices:
    return Notices()


def _server(notices: Notices, **options: object) -> ChatServer:
    server = ChatServer("127.0.0.1", 0, limits=Limits.unlimited(), **options)  # type: ignore[arg-type]
    server.add_observer(notices)
    return server


class Session:
    """A raw peer that opened a session: it counts its position as a client would."""

    def __init__(self, address: tuple[str, int], first_line: str) -> None:
        self.peer = RawPeer(*address)
        self.peer.send_line(first_line)
        line = self.peer.expect_line(r"^~\* session ")
        found = SESSION.match(line)
        assert found, line
        self.token, self.log_id, self.start = found[1], found[2], int(found[3])
        self.lines_before_session = self.peer.lines.index(line) + 1

    def after_session(self) -> list[str]:
        return self.peer.lines[self.lines_before_session :]

    @property
    def position(self) -> int:
        return self.start + sum(not line.startswith("~") for line in self.after_session())


def test_hello_joins_under_the_nickname_with_one_join_notice(notices: Notices) -> None:
    with _server(notices, history=0) as server:
        bob = joined_peer(server.address)
        eve = Session(server.address, "/hello Eve")
        eve.peer.expect_line(r"^\* Eve joined$")
        bob.expect_line(r"^\* Eve joined$")
        bob.send_line("/who")
        bob.expect_line(r"^\* online: ")
        assert [line for line in bob.lines if "joined" in line] == [
            "* Client joined",  # his own
            "* Eve joined",
        ]
        lines = eve.peer.lines
        assert lines[0] == "~* " + protocol.WELCOME.format(nick="Eve")
        assert SESSION.match(lines[1])
        assert lines[2:] == ["* Eve joined"]
        assert eve.start == 1  # Bob's join is the log's first line
        eve.peer.send_line("/hello Eve")  # not the first line any more
        eve.peer.expect_line(r"^~\* error: /hello and /resume only as the first line$")
        taken = Session(server.address, "/hello eve")  # the same name, another case
        welcome = taken.peer.lines[0]
        assert welcome.startswith("~* welcome, you are Client")
        assert taken.peer.lines[1].startswith("~* error: cannot change nickname: eve is already")
        for peer in (bob, eve.peer, taken.peer):
            peer.close()


def test_history_is_framed_for_a_plain_socket_and_counts_for_a_session(notices: Notices) -> None:
    with _server(notices, history=2) as server:
        bob = joined_peer(server.address)
        for text in ("a", "b", "c"):
            bob.send_line(text)
        bob.expect_line(r"^Client: c$")
        raw = RawPeer(*server.address)  # says nothing: welcomed after the wait
        raw.expect_line(r"^\* Client2 joined$")
        assert raw.lines == [
            "* " + protocol.WELCOME.format(nick="Client2"),
            "* history: the last 2 lines",
            "Client: b",
            "Client: c",
            "* end of history",
            "* Client2 joined",
        ]
        eve = Session(server.address, "/hello Eve")
        eve.peer.expect_line(r"^\* Eve joined$")
        assert eve.after_session() == [
            "~* history: the last 2 lines",
            "Client: c",
            "* Client2 joined",
            "~* end of history",
            "* Eve joined",
        ]
        assert eve.start == 3  # before the history: Client joined, a, b
        assert eve.position == 6  # the log: its 3 lines, then c, Client2 joined, Eve joined
        for peer in (bob, raw, eve.peer):
            peer.close()


def test_a_resume_after_a_reset_gets_exactly_the_missed_lines_and_keeps_the_nick(
    notices: Notices,
) -> None:
    with _server(notices) as server:
        bob = joined_peer(server.address)
        eve = Session(server.address, "/hello Eve")
        bob.expect_line(r"^\* Eve joined$")
        bob.send_line("b1")
        eve.peer.expect_line(r"^Client: b1$")
        position = eve.position
        seen = len(bob.lines)
        eve.peer.reset()
        notices.wait_for(r"^Eve dropped \(.*\); the name is kept 60 s$")
        bob.send_line("/who")
        bob.expect_line(r"^\* online: Server, Client, Eve \(away\)$")
        for text in ("b2", "b3"):
            bob.send_line(text)
        bob.expect_line(r"^Client: b3$")
        back = RawPeer(*server.address)
        back.send_line(f"/resume {eve.log_id} {position} Eve {eve.token}")
        back.expect_line(r"^Client: b3$")
        bob.send_line("b4")
        back.expect_line(r"^Client: b4$")
        assert back.lines == [
            "~* " + protocol.WELCOME_BACK.format(nick="Eve", count=2),
            f"~* session {eve.token} in {eve.log_id} at {position}",
            "Client: b2",
            "Client: b3",
            "Client: b4",
        ]
        bob.send_line("/who")
        bob.expect_line(r"^\* online: Server, Client, Eve$")
        assert not [line for line in bob.lines[seen:] if "joined" in line or "left" in line]
        assert server.nicks() == ["Server", "Client", "Eve"]
        for peer in (bob, back):
            peer.close()


def test_a_resume_while_the_old_connection_is_open_closes_it_silently(notices: Notices) -> None:
    with _server(notices, history=0) as server:
        bob = joined_peer(server.address)
        eve = Session(server.address, "/hello Eve")
        bob.expect_line(r"^\* Eve joined$")
        seen = len(bob.lines)
        back = RawPeer(*server.address)
        back.send_line(f"/resume {eve.log_id} {eve.position} Eve {eve.token}")
        back.expect_line(r"^~\* session ")
        eve.peer.wait_closed()
        bob.send_line("hi")
        back.expect_line(r"^Client: hi$")
        bob.expect_line(r"^Client: hi$")  # bob's reader too: a join or leave would be before it
        assert back.lines[0] == "~* " + protocol.WELCOME_BACK.format(nick="Eve", count=0)
        assert not [line for line in bob.lines[seen:] if "joined" in line or "left" in line]
        for peer in (bob, back):
            peer.close()


def test_the_leave_is_announced_when_the_grace_ends(notices: Notices) -> None:
    with _server(notices, resume_grace=0.2) as server:
        bob = joined_peer(server.address)
        eve = Session(server.address, "/hello Eve")
        bob.expect_line(r"^\* Eve joined$")
        eve.peer.reset()
        left = bob.expect_line(r"Eve left")
        assert left == "* " + protocol.LEFT.format(nick="Eve", reason="connection lost")
        assert server.nicks() == ["Server", "Client"]
        later = Session(server.address, f"/resume {eve.log_id} {eve.position} Eve {eve.token}")
        later.peer.expect_line(r"^\* Eve joined$")  # too late: a new join, the name free
        bob.expect_line(r"^\* Eve joined$")
        for peer in (bob, later.peer):
            peer.close()


def test_a_quit_or_a_plain_socket_gets_no_grace(notices: Notices) -> None:
    with _server(notices) as server:
        bob = joined_peer(server.address)
        eve = Session(server.address, "/hello Eve")
        eve.peer.send_line("/quit")
        bob.expect_line(r"^\* Eve left \(quit\)$")
        raw = joined_peer(server.address)
        raw.reset()
        bob.expect_line(r"^\* Client2 left ")
        bob.close()


def test_a_resume_after_a_trim_says_how_many_lines_were_lost(notices: Notices) -> None:
    log = MemoryLog()
    with _server(notices, log=log) as server:
        bob = joined_peer(server.address)
        eve = Session(server.address, "/hello Eve")
        eve.peer.expect_line(r"^\* Eve joined$")
        position = eve.position
        eve.peer.reset()
        notices.wait_for(r"^Eve dropped")
        for text in ("b1", "b2", "b3"):  # one batch each
            bob.send_line(text)
            bob.expect_line(f"^Client: {text}$")
        with server._changes.lock:  # the log is trimmed (as delivery does when it is full)
            log.trim([log.end - 1])
            oldest = log.oldest
        assert oldest > position
        back = RawPeer(*server.address)
        back.send_line(f"/resume {eve.log_id} {position} Eve {eve.token}")
        back.expect_line(r"^Client: b3$")
        missed = oldest - position
        assert back.lines == [
            "~* " + protocol.WELCOME_BACK_TRIMMED.format(nick="Eve", missed=missed, count=1),
            f"~* session {eve.token} in {eve.log_id} at {oldest}",
            "Client: b3",  # the one line still kept after the trim
        ]
        for peer in (bob, back):
            peer.close()


def test_a_resume_into_another_log_says_the_history_was_reset(notices: Notices) -> None:
    with _server(notices, history=1) as server:
        bob = joined_peer(server.address)
        back = RawPeer(*server.address)
        back.send_line("/resume 0123456789abcdef 7 Eve 00ff")
        back.expect_line(r"^\* Eve joined$")
        reset = protocol.WELCOME_BACK_RESET.format(nick="Eve")
        assert back.lines[0] == "~* " + reset
        assert SESSION.match(back.lines[1])
        assert back.lines[2:] == [
            "~* history: the last 1 lines",
            "* Client joined",
            "~* end of history",
            "* Eve joined",
        ]
        for peer in (bob, back):
            peer.close()


def test_a_resume_too_far_behind_for_the_budget_gets_the_newest_lines_and_says_so(
    notices: Notices,
) -> None:
    with _server(notices, max_backlog_bytes=4096, history=0) as server:
        bob = joined_peer(server.address)
        eve = Session(server.address, "/hello Eve")
        eve.peer.expect_line(r"^\* Eve joined$")
        position = eve.position
        eve.peer.reset()
        notices.wait_for(r"^Eve dropped")
        text = "x" * 90  # "Client: " and a newline make each line 99 bytes
        for number in range(30):  # 2,970 bytes: more than half the budget
            bob.send_line(f"{number:02d}{text[2:]}")
            bob.expect_line(f"^Client: {number:02d}")
        back = RawPeer(*server.address)
        back.send_line(f"/resume {eve.log_id} {position} Eve {eve.token}")
        back.expect_line(r"^Client: 29")
        kept = 2048 // 99  # the newest lines that fit into half the budget
        missed = 30 - kept
        assert back.lines[0] == "~* " + protocol.WELCOME_BACK_TRIMMED.format(
            nick="Eve", missed=missed, count=kept
        )
        assert back.lines[1] == f"~* session {eve.token} in {eve.log_id} at {position + missed}"
        assert back.lines[2:] == [f"Client: {n:02d}{text[2:]}" for n in range(missed, 30)]
        for peer in (bob, back):
            peer.close()
