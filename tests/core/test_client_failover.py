"""A client given several servers fails over: next server at once, same session, same lines.

Without Redis, "several servers of one room" are two :class:`TcpProxy`
instances in front of ONE real :class:`ChatServer`: cutting proxy 1 is
losing server 1 while the room goes on, and the client must resume through
proxy 2 with exactly the transcript of someone who never left (nothing
lost, nothing doubled).  "At once" is asserted as the order of what the
client did (its ``Connected`` events, no ``Disconnected`` between them),
never as a time: the core has no wait between servers, the back-off is the
front end's after a whole round failed.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from event_recorder import Recorder
from harness import RawPeer, joined_peer
from tcp_proxy import TcpProxy

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError, format_address
from tcpchat.server import ChatServer

TIMEOUT = 15.0
CHAT = re.compile(r"^(Eve|Bob): ")


@pytest.fixture
def server(address: tuple[str, int]) -> Iterator[ChatServer]:
    chat_server = ChatServer(*address)
    chat_server.start()
    yield chat_server
    chat_server.stop()


@pytest.fixture
def proxies(address: tuple[str, int]) -> Iterator[tuple[TcpProxy, TcpProxy]]:
    first, second = TcpProxy(address, address[0]), TcpProxy(address, address[0])
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def dead_port(address: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """An address that refuses connections: bound (so no one else takes it), not listening."""
    holder = socket.socket()
    holder.bind((address[0], 0))
    yield address[0], holder.getsockname()[1]
    holder.close()


def bob_chat(bob: RawPeer) -> list[str]:
    return [line for line in bob.lines if CHAT.match(line)]


def bob_saw(bob: RawPeer, line: str) -> None:
    """Wait for *line* among everything Bob received (in whatever order it came)."""
    bob.inbox.wait_for(f"^{re.escape(line)}$", TIMEOUT, 0)


class Bouncer:
    """Lets each connection in and resets it at once, noting its address in *log*.

    A connection that the server accepts and drops, as a crashing server or a
    proxy whose target is gone does.  Whether the client's ``connect()`` still
    succeeds or already sees the reset is the kernel's race; either way the
    bouncer accepted first, so *log* is the order of the client's attempts.
    """

    def __init__(self, host: str, log: list[tuple[str, int]]) -> None:
        self.listener = socket.create_server((host, 0))
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self._log = log
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._log.append(self.address)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(TIMEOUT)


def test_a_cut_resumes_on_the_next_server_at_once_with_nothing_lost_or_doubled(
    server: ChatServer, address: tuple[str, int], proxies: tuple[TcpProxy, TcpProxy]
) -> None:
    first, second = proxies
    bob = joined_peer(address)
    bob.send_line("/nick Bob")
    bob.expect_line(r"^\* Client\d* is now Bob$")
    eve = ChatClient(servers=[first.address, second.address], nick="Eve")
    seen = Recorder(eve)
    eve.connect()
    try:
        seen.wait("Eve's join", lambda got: events.Notice("Eve joined") in got)
        bob.expect_line(r"^\* Eve joined$")
        for number in range(3):
            bob.send_line(f"before {number}")
            eve.send(f"mine before {number}")
        first.refuse()  # server 1 is gone for good: no second chance for it in this round
        eve.send("in flight")  # the cut may come before or after the room has it
        assert first.cut() == 1
        bob.send_line("while away")
        seen.wait_count(events.Resumed, 1)
        eve.send("after")
        bob.send_line("after too")
        bob_saw(bob, "Bob: after too")
        seen.wait("Bob's last line", lambda _: "Bob: after too" in seen.chat())
        bob_saw(bob, "Eve: after")
        seen.wait("Eve's last line", lambda _: "Eve: after" in seen.chat())
        # Server 2 lost too: the next is server 1 again (the list wraps), and it is back.
        first.accept()
        assert second.cut() == 1
        seen.wait_count(events.Resumed, 2)
        eve.send("third server")
        bob_saw(bob, "Eve: third server")
        seen.wait("the last line", lambda _: "Eve: third server" in seen.chat())
        assert seen.connections() == [first.address, second.address, first.address]
        assert (first.connections, second.connections) == (2, 1)
    finally:
        eve.close()
    assert seen.chat() == bob_chat(bob)  # one order, every line once
    assert bob_chat(bob).count("Eve: in flight") == 1
    bob_saw(bob, "* Eve left (quit)")  # close() waits for the server, not for bob to hear it
    left = [line for line in bob.lines if line.startswith("* Eve left")]
    assert left == ["* Eve left (quit)"]  # the failovers were silent for the room


def test_a_dead_first_server_is_skipped_at_once(
    server: ChatServer, proxies: tuple[TcpProxy, TcpProxy], dead_port: tuple[str, int]
) -> None:
    _, second = proxies
    eve = ChatClient(servers=[dead_port, second.address], nick="Eve")
    seen = Recorder(eve)
    eve.connect()
    try:
        seen.wait("the welcome", lambda got: any(isinstance(e, events.Notice) for e in got))
        assert seen.connections() == [second.address]
        assert (eve.host, eve.port) == second.address
    finally:
        eve.close()


def test_a_round_where_no_server_answers_is_one_error_naming_each_in_order(
    dead_port: tuple[str, int], address: tuple[str, int]
) -> None:
    other = socket.socket()
    other.bind((address[0], 0))
    try:
        second = (address[0], other.getsockname()[1])
        eve = ChatClient(servers=[second, dead_port], nick="Eve")
        with pytest.raises(ChatError) as caught:
            eve.connect()
    finally:
        other.close()
    text = str(caught.value)
    assert re.fullmatch(
        rf"cannot connect to {re.escape(format_address(*second))}: [^;]+; "
        rf"cannot connect to {re.escape(format_address(*dead_port))}: [^;]+",
        text,
    ), text


def test_servers_that_let_the_client_in_and_throw_it_out_end_the_round(
    address: tuple[str, int],
) -> None:
    """Accepted, then reset before the session began: each server's turn is used up, and
    the round ends (for the front end's back-off) after one try of each, not in a spin."""
    attempts: list[tuple[str, int]] = []
    first, second = Bouncer(address[0], attempts), Bouncer(address[0], attempts)
    try:
        eve = ChatClient(servers=[first.address, second.address], nick="Eve")
        seen = Recorder(eve)
        try:
            eve.connect()
        except ChatError:  # neither connect() returned before its reset: no Disconnected
            pass
        else:
            seen.wait_count(events.Disconnected, 1)
        eve.close()  # the reader is gone: no attempt can follow
    finally:
        first.close()
        second.close()
    assert attempts == [first.address, second.address]
    assert seen.count(events.Disconnected) <= 1
    assert all(
        not event.expected for event in seen.events if isinstance(event, events.Disconnected)
    )


def test_closing_is_no_drop_to_fail_over_from(
    server: ChatServer, proxies: tuple[TcpProxy, TcpProxy]
) -> None:
    first, second = proxies
    eve = ChatClient(servers=[first.address, second.address], nick="Eve")
    seen = Recorder(eve)
    eve.connect()
    seen.wait("the join", lambda got: events.Notice("Eve joined") in got)
    eve.close()
    first.cut()
    assert seen.connections() == [first.address, "lost"]
    closed = seen.events[-1]
    assert isinstance(closed, events.Disconnected)
    assert closed.expected
    assert second.connections == 0


def test_one_server_behaves_as_host_and_port(
    server: ChatServer, proxies: tuple[TcpProxy, TcpProxy]
) -> None:
    """No failover with one server: a cut is a Disconnected, as with host and port."""
    first, _ = proxies
    eve = ChatClient(servers=[first.address], nick="Eve")
    seen = Recorder(eve)
    eve.connect()
    seen.wait("the join", lambda got: events.Notice("Eve joined") in got)
    first.cut()
    seen.wait_count(events.Disconnected, 1)
    eve.close()
    assert seen.connections() == [first.address, "lost"]
    with pytest.raises(ChatError, match="not connected"):
        eve.send("hello")
    with pytest.raises(ValueError, match="not both"):
        ChatClient("127.0.0.1", 9000, servers=[first.address])
    with pytest.raises(ValueError, match="host and port, or servers"):
        ChatClient()


def test_the_next_server_gets_a_resume_at_the_position_counted_then_the_unechoed_line(
    address: tuple[str, int],
) -> None:
    """Scripted servers, so the test decides what reached the room: server 1 took
    "in flight" but was lost before echoing it; server 2 gets ``/resume`` at the
    position counted on server 1, replays one line, and only then is the line sent
    again, once (the session's rule, unchanged by the change of server)."""
    first, second = (socket.create_server((address[0], 0)) for _ in range(2))
    for listener in (first, second):
        listener.settimeout(TIMEOUT)
    eve = ChatClient(servers=[first.getsockname()[:2], second.getsockname()[:2]], nick="Eve")
    seen = Recorder(eve)
    try:
        eve.connect()
        one, _ = first.accept()
        one_in = one.makefile("r", encoding="utf-8")
        assert one_in.readline() == "/hello Eve\n"
        one.sendall(
            b"~* welcome, you are Eve; type /help for the commands\n"
            b"~* session tok1 in log1 at 5\n* Eve joined\n"
        )
        seen.wait("the join", lambda got: events.Notice("Eve joined") in got)
        eve.send("in flight")
        assert one_in.readline() == "in flight\n"
        one.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        one_in.close()
        one.close()  # lost before the echo
        two, _ = second.accept()
        two_in = two.makefile("r", encoding="utf-8")
        assert two_in.readline() == "/resume log1 6 Eve tok1\n"
        two.sendall(
            b"~* welcome back, you are Eve; 1 lines you missed follow\n"
            b"~* session tok1 in log1 at 6\nBob: meanwhile\n"
        )
        assert two_in.readline() == "in flight\n"  # after the replay, once
        two.sendall(b"Eve: in flight\n")
        seen.wait("the echo", lambda _: "Eve: in flight" in seen.chat())
        assert seen.connections() == [first.getsockname()[:2], second.getsockname()[:2]]
        assert eve.session.position == 8
        two_in.close()
        two.close()
    finally:
        eve.close()
        first.close()
        second.close()


def test_a_resume_dropped_during_its_replay_uses_up_that_servers_turn(
    address: tuple[str, int],
) -> None:
    """Settled on server 1, then lost; server 2 and server 1 again each drop the resume
    in the middle of its replay (as one dropping a client too slow for it would): the
    round is over, and it ends in Disconnected for the back-off, not in a spin."""
    first, second = (socket.create_server((address[0], 0)) for _ in range(2))
    for listener in (first, second):
        listener.settimeout(TIMEOUT)
    one, two = first.getsockname()[:2], second.getsockname()[:2]
    eve = ChatClient(servers=[one, two], nick="Eve")
    seen = Recorder(eve)

    def serve(listener: socket.socket, expect: str, *lines: str) -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("r", encoding="utf-8") as lines_in:
            assert lines_in.readline() == expect
            conn.sendall("".join(line + "\n" for line in lines).encode())
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    partial = (
        "~* welcome back, you are Eve; 3 lines you missed follow",
        "~* session tok1 in log1 at 1",
        "Bob: missed 1",
    )
    try:
        eve.connect()
        serve(first, "/hello Eve\n", "~* welcome, you are Eve", "~* session tok1 in log1 at 0")
        serve(second, "/resume log1 0 Eve tok1\n", *partial)
        serve(first, "/resume log1 2 Eve tok1\n", *partial)
        seen.wait_count(events.Disconnected, 1)
    finally:
        eve.close()
        first.close()
        second.close()
    assert seen.connections() == [one, two, one, "lost"]


class _SlowToQueue(ChatClient):
    """Fault injection: ``send()`` stalls between accounting a line and queueing it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stall = threading.Event()
        self.stalled = threading.Event()
        self.go_on = threading.Event()

    def _enqueue(self, lines: list[bytes], wait: bool, generation: int) -> None:
        if self.stall.is_set():
            self.stalled.set()
            self.go_on.wait(TIMEOUT)
        super()._enqueue(lines, wait, generation)


def test_a_line_accounted_on_the_lost_connection_is_not_queued_on_the_next(
    address: tuple[str, int],
) -> None:
    """The stdin thread accounts a line on server 1, and is slow to queue it; meanwhile
    the connection drops and server 2's resume already sent it again (no echo came).
    Queued late on server 2 it would arrive twice: it must not."""
    first, second = (socket.create_server((address[0], 0)) for _ in range(2))
    for listener in (first, second):
        listener.settimeout(TIMEOUT)
    eve = _SlowToQueue(servers=[first.getsockname()[:2], second.getsockname()[:2]], nick="Eve")
    seen = Recorder(eve)
    held: list[bool] = []
    try:
        eve.connect()
        one, _ = first.accept()
        one_in = one.makefile("r", encoding="utf-8")
        assert one_in.readline() == "/hello Eve\n"
        one.sendall(b"~* welcome, you are Eve\n~* session tok1 in log1 at 0\n")
        seen.wait("the welcome", lambda got: events.Notice("welcome, you are Eve") in got)
        eve.stall.set()
        sender = threading.Thread(target=lambda: held.append(eve.send("racing")))
        sender.start()
        assert eve.stalled.wait(TIMEOUT)
        eve.stall.clear()
        one_in.close()
        one.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        one.close()
        two, _ = second.accept()
        two_in = two.makefile("r", encoding="utf-8")
        assert two_in.readline() == "/resume log1 0 Eve tok1\n"
        two.sendall(b"~* welcome back, you are Eve; 0 lines you missed follow\n")
        two.sendall(b"~* session tok1 in log1 at 0\n")
        assert two_in.readline() == "racing\n"  # unacknowledged: sent again by the resume
        eve.go_on.set()
        sender.join(TIMEOUT)
        eve.send("next")
        assert two_in.readline() == "next\n"  # not "racing" a second time
        two_in.close()
        two.close()
    finally:
        eve.go_on.set()
        eve.close()
        first.close()
        second.close()
    assert held == [False]  # held (the resume took care of it), not queued
