"""Reading one connection: bytes to lines, lines paced by the guard, into the room.

Each seated connection gets a *reader thread* running :meth:`Reader.run`.
It waits for bytes (with a deadline only when a line is unfinished or idle
time counts, see :class:`tcpchat.guard.ConnectionGuard`), frames them
(:class:`tcpchat.protocol.LineBuffer`) and hands the lines of one ``recv()``
to the room in one change, so they go out as one batch.

Flood control *paces* instead of discarding (:class:`tcpchat.guard.Sources`):
every line, over-long ones included, spends a token of its source address's
budget; when a line must wait, the lines before it are handed over, the
rest of the chunk is held (at most one ``recv()``'s worth) and the reader
stops reading until the wait is over.  Meanwhile TCP backpressure keeps
what the peer sends next in its own buffers, so nothing is lost and the
server's memory stays bounded; only this connection waits.  The sender is
told once (per connection) that it is being slowed.  Over-long lines are
reported to their sender (one reply per line, so paced too).  When the peer
goes, the reader closes the connection, waits for its writer's goodbye and
gives the seat back at the door.
"""

from __future__ import annotations

import time
from typing import Callable

from tcpchat import events, protocol
from tcpchat.errors import describe
from tcpchat.guard import ConnectionGuard, Limits, Sources
from tcpchat.server.changes import Changes
from tcpchat.server.delivery import Connection
from tcpchat.server.door import Door
from tcpchat.streams import close, wait_readable

Frames = list[protocol.FrameEvent]


class Reader:
    """What every reader thread of one server shares: its limits, changes and sources."""

    pause_slice = 0.25
    """While pacing, how often to look whether the connection is closing meanwhile."""
    hello_seconds = 0.25
    """How long a new connection's first line (``/hello``, ``/resume``) is waited for."""

    def __init__(
        self,
        changes: Changes,
        door: Door,
        *,
        max_line_bytes: int,
        limits: Limits,
        recv_bytes: int,
    ) -> None:
        self.max_line_bytes = max_line_bytes
        self.limits = limits
        self.recv_bytes = recv_bytes
        self._changes = changes
        self._door = door
        door.use_limits(limits)
        self.sources: Sources = door.sources  # per-address budgets, shared with the door
        self.admit: Callable[[], None] | None = None
        """Waits, before each read, while the room's store is behind (a cluster's backpressure)."""
        self.before_resume: Callable[[], None] | None = None
        """Waits, before a session resumes, until the log holds what the room has (a cluster)."""
        self.alive: set[Connection] = set()  # reader threads not yet finished
        self._slowed: set[Connection] = set()  # told they are being slowed (once each)

    def run(self, connection: Connection, host: str) -> None:
        """A reader thread's life: join, read until the peer goes, then close and clean up."""
        changes = self._changes
        buffer = protocol.LineBuffer(self.max_line_bytes)
        guard = ConnectionGuard(self.limits)
        reason = "connection closed"
        joined = False
        try:
            joined, ended = self._join(connection, host, buffer, guard)
            while joined and not ended:
                # No deadline (None) unless a line is unfinished, or idle time counts;
                # a closing connection is drained only until its goodbye's deadline.
                if connection.closing:
                    left = connection.deadline - time.monotonic()
                    if left <= 0 or not wait_readable(connection.sock, left):
                        break
                    timeout = None
                else:
                    timeout = guard.seconds_left()
                if timeout is not None and not wait_readable(connection.sock, timeout):
                    expired = guard.expired_reason()
                    if expired is not None:
                        with changes():
                            changes.expel(connection, expired)
                    continue
                if self.admit is not None:
                    self.admit()
                data = connection.sock.recv(self.recv_bytes)
                if not data:
                    break
                if connection.closing:
                    continue  # lingering close: drain and ignore
                frames = buffer.feed(data)
                lines = sum(isinstance(frame, protocol.Line) for frame in frames)
                guard.received(lines, buffer.pending_bytes > 0 or buffer.discarding)
                self._take(connection, host, frames, guard)
        except OSError as exc:
            reason = describe(exc)
        connection.peer_closed.set()
        with changes():
            self._greeted(connection)
            if joined:  # not /quit: a session keeps its nickname for its grace
                changes.close(connection, reason, abort=reason != "connection closed", lost=True)
            else:
                connection.done.set()
        connection.done.wait()  # the writer has said goodbye, if there was one to say
        if connection.writer is not None:
            connection.writer.join()
        close(connection.sock, reset=connection.abort)  # a dropped peer must not wait on us
        with changes.lock:
            self.alive.discard(connection)
            self._slowed.discard(connection)
            self._door.leave(host)

    def _join(
        self,
        connection: Connection,
        host: str,
        buffer: protocol.LineBuffer,
        guard: ConnectionGuard,
    ) -> tuple[bool, bool]:
        """Join the room (after the first line, or the wait for it); its other lines.

        Whether it joined (not if the server is stopping) and whether the peer has gone.
        """
        changes = self._changes
        frames, ended = self._first_line(connection, buffer)
        first = self._session_command(frames)
        if isinstance(first, protocol.Resume) and self.before_resume is not None:
            self.before_resume()
        with changes(connection):
            self._greeted(connection)
            if changes.stopping:
                return False, ended
            changes.join(connection, first)
        if frames:
            lines = sum(isinstance(frame, protocol.Line) for frame in frames)
            guard.received(lines, buffer.pending_bytes > 0 or buffer.discarding)
            self._take(connection, host, frames, guard)
        return True, ended

    def _first_line(
        self, connection: Connection, buffer: protocol.LineBuffer
    ) -> tuple[Frames, bool]:
        """Wait up to :attr:`hello_seconds` for the first line (a session command?).

        The frames read so far, and whether the peer has already gone.
        """
        frames: Frames = []
        deadline = time.monotonic() + self.hello_seconds
        while not frames:
            left = deadline - time.monotonic()
            if left <= 0 or not wait_readable(connection.sock, left):
                self._after_earlier_arrivals(connection)
                break
            data = connection.sock.recv(self.recv_bytes)
            if not data:
                return frames, True
            frames = buffer.feed(data)
        return frames, False

    def _after_earlier_arrivals(self, connection: Connection) -> None:
        """Let connections that arrived earlier and said nothing join first (bounded).

        Their waits ended first but their threads may run later; without this
        two ``nc`` users arriving together could get each other's default name.
        """
        with self._changes.lock:
            earlier = []
            for other, greeted in self._door.greeting.items():
                if other is connection:
                    break
                earlier.append(greeted)
        for greeted in earlier:
            greeted.wait(self.hello_seconds)

    def _greeted(self, connection: Connection) -> None:
        """*connection* is no longer awaited at the door (in a change)."""
        greeted = self._door.greeting.pop(connection, None)
        if greeted is not None:
            greeted.set()

    @staticmethod
    def _session_command(frames: Frames) -> protocol.Hello | protocol.Resume | None:
        """``/hello`` or ``/resume`` if the first frame is one (taken off *frames*)."""
        if not frames or not isinstance(frames[0], protocol.Line):
            return None
        command = protocol.parse_command(frames[0].text)
        if not isinstance(command, (protocol.Hello, protocol.Resume)):
            return None
        del frames[0]
        return command

    def _take(
        self, connection: Connection, host: str, frames: Frames, guard: ConnectionGuard
    ) -> None:
        """Hand *frames* to the room as fast as the budget allows; wait (not reading) between."""
        paid = False  # the first frame's token is already spent (it waited for it)
        while frames and not connection.closing:
            with self._changes(connection):
                wait, frames = self._handle_frames(connection, host, frames, paid)
            if wait > 0:
                started = time.monotonic()
                self._pause(connection, wait)
                guard.paused(time.monotonic() - started)
                paid = True

    def _pause(self, connection: Connection, seconds: float) -> None:
        """Wait *seconds* without reading; cut short if the connection is closing meanwhile."""
        end = time.monotonic() + seconds
        while not connection.closing:
            left = end - time.monotonic()
            if left <= 0:
                return
            connection.done.wait(min(left, self.pause_slice))

    def _handle_frames(
        self, connection: Connection, host: str, frames: Frames, paid: bool
    ) -> tuple[float, Frames]:
        """Take frames through the guard into the room (in a change) until one must wait.

        Returns that wait and the frames still held (the first of them paid
        for), or ``(0, [])`` when all were handled.
        """
        changes = self._changes
        room = changes.room
        for index, frame in enumerate(frames):
            if connection not in room:
                return 0.0, []  # it quit earlier in this same chunk
            if not (paid and index == 0):
                pace = self.sources.pace_line(host)
                if pace.warn:  # a flood from this address starts: tell the operator
                    nick = room.nick_of(connection)
                    changes.emit(events.Notice(f"slowing down {nick}: flooding"))
                if pace.wait > 0:
                    if connection not in self._slowed:  # told once, when first slowed
                        self._slowed.add(connection)
                        changes.tell(connection, self.sources.warning())
                    return pace.wait, frames[index:]
            if isinstance(frame, protocol.Line):
                changes.apply(room.receive(connection, frame.text))
                continue
            changes.tell(connection, protocol.LINE_TOO_LONG.format(limit=frame.limit))
            nick = room.nick_of(connection)
            changes.emit(events.Notice(f"discarding an over-long line from {nick}"))
        return 0.0, []
