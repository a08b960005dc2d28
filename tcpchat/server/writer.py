"""A connection's writer thread: its backlog, then its goodbye, each with a way out.

:mod:`tcpchat.server.delivery` sends what fits without blocking; what does not
fit goes to the connection's own *writer thread*, run by :func:`write_loop`.
It takes the connection's output from delivery (``next_output``, which puts
it to sleep while there is none), sends it, and when the connection closes
sends what is left, half-closes and lingers for the peer's close, so unread
input does not turn our close into a reset.

Nothing here may block forever on a peer that stops reading.  The writer never
calls a plain ``sendall()``: it sends with :func:`tcpchat.streams.send_within`
in slices of at most :data:`POLL_SECONDS`, so even in the middle of a backlog it
notices that its connection began to close.  A closing connection has a
*deadline* (``linger_seconds`` after the close); what has not gone by then
is given up, and the socket is shut down both ways, which also wakes the
connection's reader.  So a client that quits (or is expelled) with its
receive buffer full costs its two threads for ``linger_seconds`` at most.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Protocol

from tcpchat.errors import describe
from tcpchat.streams import Buffer, Stream, send_within, shutdown

POLL_SECONDS = 1.0
"""How long one slice of a blocked send waits before the writer looks at its connection again."""


class Writing(Protocol):
    """What the writer needs of a connection (:class:`tcpchat.server.delivery.Connection`)."""

    sock: Stream
    closing: bool
    abort: bool
    deadline: float
    """Once closing: the ``time.monotonic()`` by which the goodbye is over."""
    peer_closed: threading.Event
    done: threading.Event


NextOutput = Callable[[Writing], "tuple[list[bytes], bool]"]
"""Sleep until the connection has a backlog or is closing; (what to send, finished)."""
Drop = Callable[[Writing, str], None]
"""Close a broken connection, telling the room (opens its own change)."""


def write_loop(connection: Writing, next_output: NextOutput, drop: Drop) -> None:
    """A connection's writer: backlogs and goodbyes (runs on its own thread)."""
    graceful = True
    try:
        while True:
            chunks, finished = next_output(connection)
            if chunks and not send_by_deadline(connection, b"".join(chunks)):
                graceful = False  # the goodbye's deadline passed: give up
                return
            chunks = []  # do not hold on to it while asleep
            if finished:
                graceful = not connection.abort
                return
    except OSError as exc:
        graceful = False
        drop(connection, describe(exc))
    finally:
        if graceful:
            # Half-close, then give the peer until the deadline to close its side.
            shutdown(connection.sock, socket.SHUT_WR)
            connection.peer_closed.wait(max(0.0, connection.deadline - time.monotonic()))
        shutdown(connection.sock, socket.SHUT_RDWR)  # also wakes the reader
        connection.done.set()


def send_by_deadline(connection: Writing, data: Buffer) -> bool:
    """Send *data*, however long the peer takes, unless the connection closes and its
    deadline passes first (False: given up).  ``OSError`` if the connection breaks."""
    while True:
        timeout = POLL_SECONDS
        if connection.closing:  # what fits now is sent even when the deadline has passed
            timeout = max(0.0, min(timeout, connection.deadline - time.monotonic()))
        data = send_within(connection.sock, data, timeout)
        if not data:
            return True
        if connection.closing and time.monotonic() >= connection.deadline:
            return False
