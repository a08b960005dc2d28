"""The slow-reader budget at its exact edge, on the delivery code alone (issue 16).

A client exactly ``max_backlog_bytes`` behind when the log is trimmed stays; one
byte more and it is dropped.  No threads are started: the log, the cursors and
the trim are driven by hand, with socket pairs standing in for clients.

Delivery's seam with the server is one transactions object (the lock, a way to
open a change, and ``drop``); :class:`Changes` here is the smallest honest one:
a real lock, changes that open nothing more, and drops recorded (or refused).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import ContextManager, Iterator

import pytest

from tcpchat.chatlog import MemoryLog
from tcpchat.server.delivery import Connection, Delivery

BUDGET = 100


class Changes:
    """The transactions delivery is given: a lock, changes, and the drops it asks for."""

    def __init__(self, *, drops_allowed: bool = True) -> None:
        self.lock = threading.Lock()
        self.drops: list[tuple[str, str]] = []
        self.drops_allowed = drops_allowed

    def __call__(self, sender: Connection | None = None) -> ContextManager[None]:
        return contextlib.nullcontext()

    def drop(self, connection: Connection, reason: str) -> None:
        if not self.drops_allowed:
            pytest.fail(f"{connection.peer} dropped: {reason}")
        self.drops.append((connection.peer, reason))


def make_delivery(changes: Changes) -> Delivery:
    return Delivery(changes, max_backlog_bytes=BUDGET, linger_seconds=0, log=MemoryLog())


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def connection(sockets: list[socket.socket], name: str) -> Connection:
    ours, theirs = socket.socketpair()
    sockets += [ours, theirs]
    return Connection(ours, name)


@pytest.mark.parametrize(("behind", "dropped"), [(BUDGET, False), (BUDGET + 1, True)])
def test_a_client_exactly_at_the_budget_stays_and_one_byte_more_is_dropped(
    sockets: list[socket.socket], behind: int, dropped: bool
) -> None:
    changes = Changes()
    drops = changes.drops
    delivery = make_delivery(changes)
    oldest = connection(sockets, "oldest")
    delivery.add(oldest)  # from the very start: far behind by the trim
    first = 2 * BUDGET + 1 - behind
    delivery.broadcast(b"a" * first)
    delivery.publish(None)
    assert drops == []  # not over 2x the budget yet: no trim
    edge = connection(sockets, "edge")
    delivery.add(edge)  # from here on: `behind` bytes behind after the next entry
    delivery.broadcast(b"b" * behind)
    delivery.publish(None)  # the log is now 2x the budget + 1: the trim runs
    assert delivery.log_bytes() <= 2 * BUDGET + 1
    expected = [("oldest", f"too slow: fell {2 * BUDGET + 1} bytes behind")]
    if dropped:
        expected.append(("edge", f"too slow: fell {behind} bytes behind"))
    assert sorted(drops) == sorted(expected)


def test_a_reply_keeps_its_place_among_broadcasts_after_a_trim(
    sockets: list[socket.socket],
) -> None:
    """Once the log's start has been freed (its base moved), a reply still goes in its place."""
    delivery = make_delivery(Changes(drops_allowed=False))
    reader = connection(sockets, "reader")
    delivery.add(reader)
    delivery.broadcast(b"A" * 150)
    delivery.publish(None)
    assert delivery._take_output(reader) == [b"A" * 150]  # it read everything so far
    delivery.broadcast(b"B" * 90)
    delivery.publish(None)  # 240 bytes > 2x the budget: the trim frees what all have read
    assert delivery.log_bytes() == 90  # "A" is gone; the log now starts further on
    delivery.reply(reader, b"reply\n")  # after B (96 bytes waiting: within the budget) ...
    delivery.broadcast(b"C" * 10)  # ... and before C
    delivery.publish(None)
    assert delivery._take_output(reader) == [b"B" * 90, b"reply\n", b"C" * 10]


def test_an_empty_log_holds_no_bytes() -> None:
    delivery = make_delivery(Changes(drops_allowed=False))
    assert delivery.log_bytes() == 0  # nothing said yet
    delivery.broadcast(b"x" * 300)  # over 2x the budget with nobody to read it
    delivery.publish(None)
    assert delivery.log_bytes() == 0  # the trim freed all of it


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize(("abort", "expected"), [(False, b"hello\n"), (True, b"")])
def test_closing_an_idle_connection_sends_whats_left_unless_it_aborts(
    abort: bool, expected: bytes
) -> None:
    """A graceful close delivers the rest, then hangs up; an aborting one only hangs up."""
    delivery = make_delivery(Changes(drops_allowed=False))
    ours, theirs = socket.socketpair()
    with ours, theirs:
        leaving = Connection(ours, "leaving")
        delivery.add(leaving)
        delivery.broadcast(b"hello\n")
        delivery.publish(None)  # logged; nobody has sent it to the idle connection yet
        delivery.close(leaving, abort)
        assert leaving not in delivery._idle  # its writer has it now
        assert leaving.done.wait(5), "the writer never finished with the closed connection"
        assert read_all(theirs) == expected


def test_the_log_it_is_given_is_the_one_it_writes_to() -> None:
    log = MemoryLog()
    delivery = Delivery(
        Changes(drops_allowed=False), max_backlog_bytes=BUDGET, linger_seconds=0, log=log
    )
    delivery.broadcast(b"kept\n")
    delivery.publish(None)
    assert log.read(0) == [b"kept\n"]


def test_a_reader_serving_two_idle_clients_itself_sends_to_its_sender_first(
    sockets: list[socket.socket],
) -> None:
    """Whichever order the idle set holds them in, the sender's copy is claimed first."""
    delivery = make_delivery(Changes(drops_allowed=False))
    for name in ("one", "two"):
        delivery.add(connection(sockets, name))
    delivery.broadcast(b"hi\n")
    delivery.publish(None)
    second = list(delivery._idle)[1]  # the one a plain walk of the idle set reaches last
    claimed = delivery._claim_idle(first=second)
    assert [c.peer for c, _ in claimed] == [second.peer, ({"one", "two"} - {second.peer}).pop()]
    assert [data for _, data in claimed] == [b"hi\n", b"hi\n"]
