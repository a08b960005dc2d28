"""Clients that stop reading cost bounded memory, threads and time (issue 15, items 1, 4, 5, 8).

Every test drives an in-process :class:`ChatServer` over real loopback sockets.
A *stuck* client is one that joined, made the server queue far more for it
than any kernel buffer holds (replies to unknown 250-byte commands, its
receive buffer at the minimum), and never reads: its writer is then blocked
sending.  Thread-start failures are injected by replacing ``start_thread`` in
the module that calls it.
"""

from __future__ import annotations

import faulthandler
import socket
import threading
import time
from typing import Callable, Iterator

import pytest

from tcpchat import events
from tcpchat.errors import format_address
from tcpchat.guard import Limits
from tcpchat.server import ChatServer, core, delivery
from tcpchat.server.delivery import Connection
from tcpchat.threads import start_thread

# An unknown command: the reply echoes its name (whole, under the room's 256-byte clip),
# so the replies outweigh what is sent.
COMMAND = b"/" + b"x" * 250 + b"\n"
KERNEL_BYTES = 16 * 1024 * 1024  # far more than the kernel buffers of one connection
WAIT = 30.0  # for what should happen within a second or two: only a hang reaches it


class Observed:
    """The server's events, for a test to wait on."""

    def __init__(self, server: ChatServer) -> None:
        self.events: list[events.Event] = []
        self._changed = threading.Condition()
        server.add_observer(self._see)

    def _see(self, event: events.Event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, wanted: Callable[[events.Event], bool]) -> events.Event:
        with self._changed:
            assert self._changed.wait_for(lambda: any(map(wanted, self.events)), WAIT), (
                f"never seen; saw {self.events[-5:]}"
            )
            return next(filter(wanted, self.events))


class Server(ChatServer):
    linger_seconds = 0.5


class LongLinger(ChatServer):
    linger_seconds = 2.0


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = Server("127.0.0.1", 0, limits=Limits.unlimited(), max_backlog_bytes=64 << 20)
    with chat:
        yield chat


def connect(server: ChatServer) -> tuple[socket.socket, Connection]:
    """A client with the smallest receive buffer, and its connection on the server."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum
    sock.settimeout(WAIT)
    sock.connect(server.address)
    while sock.recv(1) != b"\n":  # the welcome: it is seated
        pass
    peer = format_address(*sock.getsockname()[:2])
    with server._changes.lock:
        (connection,) = [c for c in server._delivery.connections if c.peer == peer]
    return sock, connection


def stuck(server: ChatServer, observed: Observed, name: str) -> tuple[socket.socket, Connection]:
    """A client whose writer is blocked sending to it (see the module docstring)."""
    sock, connection = connect(server)
    for _ in range(KERNEL_BYTES // len(COMMAND)):
        sock.sendall(COMMAND)
    sock.sendall(f"/nick {name}\n".encode())  # seen once every command before it is handled
    observed.wait_for(lambda e: isinstance(e, events.Renamed) and e.new == name)
    with server._changes.lock:
        assert connection.writer is not None  # it needed one: the socket was full
    return sock, connection


def hung_up_on(sock: socket.socket) -> bool:
    """Send unknown commands until the server hangs up (True) or KERNEL_BYTES went (False)."""
    try:
        for _ in range(KERNEL_BYTES // len(COMMAND)):
            sock.sendall(COMMAND)
    except (BrokenPipeError, ConnectionResetError):
        return True
    except TimeoutError:  # the server stopped reading without hanging up: show its threads
        faulthandler.dump_traceback(all_threads=True)
        raise
    return False


def test_replies_to_a_client_that_never_reads_count_against_its_budget() -> None:
    """Item 1: one budget covers replies too; checked when a reply is queued."""
    budget = 64 * 1024
    with ChatServer("127.0.0.1", 0, limits=Limits.unlimited(), max_backlog_bytes=budget) as chat:
        observed = Observed(chat)
        sock, connection = connect(chat)
        with sock:
            assert hung_up_on(sock)
            left = observed.wait_for(lambda e: isinstance(e, events.Left))
            assert isinstance(left, events.Left)
            assert left.reason.startswith("too slow: fell ")
            assert connection.closing


@pytest.mark.parametrize("how", ["quit", "kick"])
def test_a_closing_client_that_stops_reading_is_let_go_by_its_deadline(
    server: ChatServer, how: str
) -> None:
    """Item 4: the goodbye gives up at its deadline, then both threads end."""
    observed = Observed(server)
    sock, connection = stuck(server, observed, "Stuck")
    with sock:
        if how == "quit":
            sock.sendall(b"/quit\n")
        else:
            assert server.kick("Stuck")
        observed.wait_for(lambda e: isinstance(e, events.Left))
        connection.reader.join(WAIT)  # it never ended before
        assert not connection.reader.is_alive()
        assert connection.writer is not None
        connection.writer.join(WAIT)
        assert not connection.writer.is_alive()
        assert connection.done.is_set()


def test_stop_lingers_for_every_stuck_client_at_once() -> None:
    """Item 5: one deadline for all the goodbyes, not one after another.

    Twelve stuck clients lingering one after another take at least 12 x 2 s;
    lingering at once, about 2 s.  The bound in between (12 s) is no
    measurement, only what tells the two apart.
    """
    count, linger = 12, LongLinger.linger_seconds
    chat = LongLinger("127.0.0.1", 0, limits=Limits.unlimited(), max_backlog_bytes=64 << 20)
    chat.start()
    observed = Observed(chat)
    clients = [stuck(chat, observed, f"Stuck{i}") for i in range(count)]
    stopper = threading.Thread(target=chat.stop)
    started = time.monotonic()
    stopper.start()
    stopper.join(count * linger / 2)
    took = time.monotonic() - started
    alive = stopper.is_alive()
    stopper.join()
    for sock, _ in clients:
        sock.close()
    assert not alive, f"stop() took {took:.1f} s for {count} stuck clients"


class StartFails:
    """``start_thread`` that raises, as CPython does when the system is out of threads."""

    def __init__(self, real: Callable[..., threading.Thread], prefix: str) -> None:
        self.real = real
        self.prefix = prefix
        self.failed = 0

    def __call__(self, target: Callable[..., None], name: str, *args: object) -> threading.Thread:
        if name.startswith(self.prefix):
            self.failed += 1
            raise RuntimeError("can't start new thread")
        return self.real(target, name, *args)


def read_to_end(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_reader_that_cannot_start_closes_its_connection_and_the_server_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 8: the accept loop lives on; the next client is welcomed; stop() is clean."""
    chat = ChatServer("127.0.0.1", 0)
    chat.start()
    observed = Observed(chat)
    failing = StartFails(start_thread, "tcpchat-reader")
    monkeypatch.setattr(core, "start_thread", failing)
    with socket.create_connection(chat.address, timeout=WAIT) as refused:
        read_to_end(refused)  # closed, not left hanging
    observed.wait_for(lambda e: isinstance(e, events.Error) and "cannot serve" in e.text)
    assert failing.failed == 1
    monkeypatch.undo()
    with socket.create_connection(chat.address, timeout=WAIT) as welcomed:
        assert welcomed.makefile("rb").readline().startswith(b"* welcome")
        assert len(chat.nicks()) == 2  # the operator and this one: not the refused one
        chat.stop()  # raised AttributeError before
    assert not chat._events._thread.is_alive()


def test_a_writer_that_cannot_start_drops_its_connection_only(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 8: a writer that cannot start (for a backlog, or a goodbye) ends its connection."""
    observed = Observed(server)
    failing = StartFails(start_thread, "tcpchat-writer")
    monkeypatch.setattr(delivery, "start_thread", failing)
    backlogged, connection = connect(server)
    with backlogged:
        assert hung_up_on(backlogged)  # dropped once its backlog needs a writer
    left = observed.wait_for(lambda e: isinstance(e, events.Left))
    assert isinstance(left, events.Left)
    assert "cannot start its writer" in left.reason
    connection.reader.join(WAIT)
    assert not connection.reader.is_alive()
    quitting, connection = connect(server)
    with quitting:
        quitting.sendall(b"/quit\n")  # its goodbye needs a writer: it just hangs up
        read_to_end(quitting)  # the end comes: nothing is left hanging
        connection.reader.join(WAIT)
        assert not connection.reader.is_alive()
        assert failing.failed == 2
    monkeypatch.undo()
    with socket.create_connection(server.address, timeout=WAIT) as welcomed:
        assert welcomed.makefile("rb").readline().startswith(b"* welcome")
