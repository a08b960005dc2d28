"""Getting lines to clients: one shared log, a cursor per client, and who sends.

The room (through :mod:`tcpchat.server.changes`) decides *what* is said; this
module gets it out.  Its seam with the rest of the server is one object, the
:class:`Transactions` it is given: the lock every change of state holds, a
way to open a change (``with changes():``) and a way to drop a connection.

The log
-------
Every broadcast is appended once to one shared, append-only **log** of
encoded lines (a :class:`tcpchat.chatlog.ChatLog`), inside a change; that
append fixes the single order every client sees.  The lines of one change of
state (say, all the lines one ``recv()`` brought) become one batch.  Each
connection keeps a *cursor* (a log position) and is sent everything after it in one go, so a
broadcast costs one append, not one copy per client, and a client that fell
behind catches up in one system call.  Replies meant for one client
(``/who``, errors) wait on that client with the log position at which they
were made, so they interleave with broadcasts exactly as they happened.

Who sends
---------
A connection that has been sent everything is *idle*.  When the log grows,
one **fan-out thread** sends the new entries to every idle connection with a
non-blocking send: one thread and one system call per client, instead of
waking one writer thread per client (on one core, those wake-ups cost more
than the sends).  Connections at the same cursor share one copy of what they
are sent.  A fan-out to a handful of clients is instead sent at once by the
reader thread that made it, which saves the hand-over to the fan-out thread.

What does not fit into a client's socket buffer goes to that connection's
**writer thread** (:mod:`tcpchat.server.writer`), which may wait on it: a
client that stops reading only holds up its own writer.  The writer is
started the first time a client needs one, so a client that keeps up costs
one thread (its reader), not two.  It sends the backlog, then makes the
connection idle again and sleeps on its *bell* (a lock used as a one-shot
semaphore).  The writer also says goodbye: it sends what is left when a
connection closes, then half-closes and lingers, all within
``linger_seconds`` of the close.  A thread that cannot be started (the
system is out of threads) closes its connection instead.

One budget
----------
Everything waiting for a client counts against one budget,
``max_backlog_bytes``: the log after its cursor, its private replies and
what a send left over.  Replies are checked when they are queued (a client
that never reads but keeps asking ``/help`` is dropped as soon as it is over);
broadcasts are checked when the log has grown to twice the budget, when it
is trimmed.  A client over budget is dropped, so memory stays bounded.

Threads are woken only after the lock is released: a thread woken while the
lock is held would at once have to wait for it again (a lock convoy).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, ContextManager, List, Protocol, Tuple

from tcpchat.chatlog import ChatLog, MemoryLog, Position
from tcpchat.errors import describe
from tcpchat.server.writer import Writing, write_loop
from tcpchat.streams import Stream, send_some, shutdown
from tcpchat.threads import start_thread


class Connection:
    """One client's socket, threads and place in the log."""

    __slots__ = (
        *("sock", "peer", "cursor", "private", "queued", "leftover", "closing", "final"),
        *("abort", "deadline", "bell", "peer_closed", "done", "reader", "writer", "session"),
    )

    def __init__(self, sock: Stream, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.cursor: Position = 0  # the log position after the last line taken for it
        self.private: list[tuple[Position, bytes]] = []  # (log position it goes after, line)
        self.queued = 0  # bytes in private
        self.leftover = b""  # taken from the log but not yet sent
        self.closing = False
        self.final: list[bytes] = []  # what is left to send once closing
        self.abort = False  # closing without flushing (dropped, reset)
        self.deadline = 0.0  # once closing: when the goodbye is over (time.monotonic())
        self.bell = threading.Lock()
        """Held while the writer may sleep on it; released ("rung") to wake it."""
        self.bell.acquire()
        self.peer_closed = threading.Event()
        self.done = threading.Event()  # closed, and nothing more will be sent
        self.reader: threading.Thread
        self.writer: threading.Thread | None = None  # started when first needed
        self.session: str | None = None
        """The session's token, for a connection that opened one (its replies get ``~``)."""


Claimed = Tuple[Connection, bytes]
Handoff = Tuple[List[Connection], bool, List[Claimed]]
"""What a change asks for once the lock is free: bells to ring, fan-out to wake, sends."""


class Transactions(Protocol):
    """What delivery needs of the server's changes (:class:`tcpchat.server.changes.Changes`)."""

    lock: threading.Lock
    """Held by every change of state; delivery's own short sections take it too."""

    def __call__(self, sender: Connection | None = None) -> ContextManager[None]:
        """``with changes():`` a change of state, which ends with :meth:`Delivery.publish`."""

    def drop(self, connection: Connection, reason: str) -> None:
        """Close a broken or too slow *connection* at once, telling the room (in a change)."""


class Delivery:
    """The log, the idle set and the threads that send from them.

    Methods run inside a change (holding ``changes.lock``) unless they say
    otherwise.
    """

    small_fanout = 4
    """A reader sends a fan-out to this many clients or fewer itself."""

    def __init__(
        self,
        changes: Transactions,
        *,
        max_backlog_bytes: int,
        linger_seconds: float,
        log: ChatLog | None = None,
        keep_lines: int = 0,
    ) -> None:
        self._changes = changes
        self.keep_lines = keep_lines
        """Lines the log keeps even when every client has them (the history for newcomers)."""
        self._lock = changes.lock
        self.max_backlog_bytes = max_backlog_bytes
        self.linger_seconds = linger_seconds
        self.connections: set[Connection] = set()  # open, cursor tracked
        self._idle: set[Connection] = set()  # caught up: the fan-out thread serves them
        self._batch: list[bytes] = []  # broadcast lines not yet in the log
        self.log: ChatLog = MemoryLog() if log is None else log
        self._to_ring: list[Connection] = []  # writers to wake once the lock is free
        self._fanout_thread = threading.Thread()
        self._fanout_bell = threading.Lock()
        self._fanout_bell.acquire()
        self._fanout_asleep = False
        self._fanout_due = False  # idle connections have new output
        self._stopping = False
        self.ship: Callable[[list[bytes]], None] | None = None
        """Where batches go instead of the log, if it is a mirror of a shared log
        (:mod:`tcpchat.server.cluster`: the log grows by :meth:`grew`)."""

    # -- what a change asks for (inside it) ----------------------------------

    def add(self, connection: Connection) -> None:
        """Track *connection* from the end of the log on (idle: nothing to send yet)."""
        connection.cursor = self.log.end
        self.connections.add(connection)
        self._idle.add(connection)

    def rewind(self, connection: Connection, position: Position) -> None:
        """Send *connection* (just added) the log from *position* on: history, or a resume."""
        self._flush_batch()
        connection.cursor = position
        self._fanout_due = True

    def broadcast(self, line: bytes) -> None:
        self._batch.append(line)

    def reply(self, connection: Connection, line: bytes, at: Position | None = None) -> None:
        """Queue *line* for *connection* alone; drop the connection if that is over budget.

        It goes after the log up to *at* (by default, up to now).  A session
        connection's replies are marked with ``~`` (not log lines).
        """
        if connection.closing:
            return  # what it is sent was settled when it closed
        self._flush_batch()  # the reply goes after the broadcasts before it
        if connection.session is not None:
            line = b"~" + line
        connection.private.append((self.log.end if at is None else at, line))
        connection.queued += len(line)
        if self.waiting(connection) > self.max_backlog_bytes:
            self._drop_slow(connection)
        elif connection in self._idle:
            self._fanout_due = True

    def waiting(self, connection: Connection) -> int:
        """Bytes queued for *connection*: the log after its cursor, replies, a leftover."""
        behind = self.log.bytes_after(connection.cursor)
        return behind + connection.queued + len(connection.leftover)

    def close(self, connection: Connection, abort: bool) -> None:
        """Stop tracking *connection*; its writer sends what is left (unless *abort*)."""
        self._flush_batch()  # so what is left includes every broadcast so far
        connection.deadline = time.monotonic() + self.linger_seconds
        connection.closing = True
        connection.abort = abort
        if abort and connection.writer is not None:
            shutdown(connection.sock, socket.SHUT_RDWR)  # wake a writer blocked sending
        self.connections.discard(connection)
        if not abort:
            connection.final = self._take_output(connection)
        if connection in self._idle:  # nobody is sending to it: its writer hangs up
            self._idle.discard(connection)
            self._hand_to_writer(connection)

    def stop(self) -> None:
        """Let the fan-out thread end once it has nothing left to send."""
        self._stopping = True
        self._fanout_due = True

    def log_bytes(self) -> int:
        """Bytes the log holds for the connections (under ``2 * max_backlog_bytes``)."""
        return self.log.held_bytes

    def grew(self) -> None:
        """The log (a mirror) has grown from elsewhere, inside a change: send it on."""
        if self._idle:
            self._fanout_due = True
        if self.log_bytes() > 2 * self.max_backlog_bytes:
            self._trim()

    def publish(self, sender: Connection | None) -> Handoff:
        """End a change: log its broadcasts, trim, and say who must be woken.

        When a reader made the change for its *sender* and at most
        :attr:`small_fanout` clients are idle, they are claimed for the
        reader to send to itself, the sender first.
        """
        if self._flush_batch() and self.log_bytes() > 2 * self.max_backlog_bytes:
            self._trim()
        to_ring, self._to_ring = self._to_ring, []
        claimed: list[Claimed] = []
        wake_fanout = self._fanout_due and self._fanout_asleep
        if wake_fanout and sender and len(self._idle) <= self.small_fanout:
            claimed, wake_fanout = self._claim_idle(first=sender), False
        elif wake_fanout:
            self._fanout_asleep = False
        return to_ring, wake_fanout, claimed

    # -- after the lock is released ----------------------------------------

    def hand_off(self, handoff: Handoff) -> None:
        """Wake who :meth:`publish` said must be woken; send what it claimed."""
        to_ring, wake_fanout, claimed = handoff
        for connection in to_ring:
            connection.bell.release()
        if wake_fanout:
            self._fanout_bell.release()
        if claimed:
            self._serve(claimed)

    def start(self) -> None:
        self._fanout_thread = start_thread(self._fanout_loop, "tcpchat-fanout")

    def join(self) -> None:
        self._fanout_thread.join()

    # -- the fan-out thread --------------------------------------------------

    def _fanout_loop(self) -> None:
        while True:
            with self._lock:
                claimed = self._claim_idle()
                if not claimed:
                    if self._stopping:
                        return
                    self._fanout_asleep = True
            if not claimed:
                self._fanout_bell.acquire()
                continue
            self._serve(claimed)
            claimed = []

    def _serve(self, claimed: list[Claimed]) -> None:
        """Send claimed output without blocking (no lock held); then release it."""
        results = [(c, *send_some(c.sock, data)) for c, data in claimed]
        with self._changes():
            for connection, leftover, error in results:
                self._release(connection, leftover, error)

    def _claim_idle(self, first: Connection | None = None) -> list[Claimed]:
        """Take the output of every idle connection that has some.

        Connections at the same cursor share one joined copy of the log.  The
        *first* connection, if claimed, comes first.
        """
        self._fanout_due = False
        end = self.log.end
        shared: dict[Position, bytes] = {}
        claimed: list[Claimed] = []
        for connection in self._idle:
            if connection.private:
                claimed.append((connection, b"".join(self._take_output(connection))))
            elif connection.cursor != end:
                cursor = connection.cursor
                if cursor not in shared:
                    shared[cursor] = b"".join(self.log.read(cursor))
                connection.cursor = end
                claimed.append((connection, shared[cursor]))
        for connection, _ in claimed:
            self._idle.discard(connection)
        if first is not None and len(claimed) > 1 and claimed[0][0] is not first:
            claimed.sort(key=lambda item: item[0] is not first)  # stable: the rest keep order
        return claimed

    def _release(self, connection: Connection, leftover: bytes, error: OSError | None) -> None:
        """After a fan-out: idle again, or over to its writer (a backlog, or closing)."""
        if error is not None:
            self._changes.drop(connection, describe(error))
        connection.leftover = leftover
        if leftover or connection.closing:
            self._hand_to_writer(connection)
        else:
            self._idle.add(connection)
            if connection.private or connection.cursor != self.log.end:
                self._fanout_due = True  # it got more while being served

    # -- the writer threads --------------------------------------------------

    def _hand_to_writer(self, connection: Connection) -> None:
        """Have *connection*'s writer send its backlog or goodbye (it is not sending now).

        The writer thread is started the first time it is needed: most
        clients keep up and never need one.  A connection aborted before it
        ever needed one is just shut down.
        """
        if connection.writer is not None:
            self._to_ring.append(connection)  # it sleeps on its bell
            return
        if not (connection.closing and connection.abort):
            name = f"tcpchat-writer {connection.peer}"
            try:
                args = (connection, self._next_output, self._drop_broken)
                connection.writer = start_thread(write_loop, name, *args)
                return
            except RuntimeError as exc:  # "can't start new thread": no goodbye, then
                self._changes.drop(connection, f"cannot start its writer: {exc}")
        shutdown(connection.sock, socket.SHUT_RDWR)
        connection.done.set()

    def _drop_broken(self, connection: Writing, reason: str) -> None:
        """The writer's way to drop a connection that broke (outside a change)."""
        assert isinstance(connection, Connection)
        with self._changes():
            self._changes.drop(connection, reason)

    def _drop_slow(self, connection: Connection) -> None:
        """Drop a connection over budget and wake its writer, if it is blocked sending."""
        behind = self.waiting(connection)
        self._changes.drop(connection, f"too slow: fell {behind} bytes behind")
        shutdown(connection.sock, socket.SHUT_RDWR)

    def _next_output(self, connection: Writing) -> tuple[list[bytes], bool]:
        """Sleep until *connection* has a backlog or is closing; take the output.

        Returns what to send and whether the connection is finished.  A writer
        with nothing to send makes its connection idle (the fan-out thread
        serves it from then on) and sleeps on its bell, outside the lock.
        """
        assert isinstance(connection, Connection)
        while True:
            with self._lock:
                if connection.closing:
                    final = [] if connection.abort else [connection.leftover, *connection.final]
                    return final, True
                chunks = self._take_output(connection)
                if chunks:
                    return chunks, False
                self._idle.add(connection)
            connection.bell.acquire()

    # -- the log -------------------------------------------------------------

    def _take_output(self, connection: Connection) -> list[bytes]:
        """Everything *connection* is behind, private replies in their place."""
        chunks = [connection.leftover] if connection.leftover else []
        connection.leftover = b""
        cursor = connection.cursor
        for position, line in connection.private:
            chunks.extend(self.log.read(cursor, position))
            chunks.append(line)
            cursor = position
        connection.private.clear()
        connection.queued = 0
        chunks.extend(self.log.read(cursor))
        connection.cursor = self.log.end
        return chunks

    def _flush_batch(self) -> bool:
        """Append the pending broadcasts to the log as one batch; False if there were none."""
        if not self._batch:
            return False
        if self.ship is not None:  # into the shared log; back through the mirror
            self.ship(self._batch)
            self._batch = []
            return False
        self.log.append(self._batch)
        self._batch = []
        if self._idle:
            self._fanout_due = True
        return True

    def _trim(self) -> None:
        """Drop clients more than max_backlog_bytes behind, then free the log."""
        for connection in list(self.connections):
            if self.waiting(connection) > self.max_backlog_bytes:
                self._drop_slow(connection)
        self._flush_batch()  # the notices of those drops
        needed = [c.cursor for c in self.connections]
        end = self.log.end
        if isinstance(end, int):  # keep the history newcomers are shown
            needed.append(max(0, end - self.keep_lines))
        self.log.trim(needed)
