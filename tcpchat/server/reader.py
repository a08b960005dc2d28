"""Reading one connection: bytes to lines, lines through the guard, into the room.

Each seated connection gets a *reader thread* running :meth:`Reader.run`.
It waits for bytes (with a deadline only when a line is unfinished or idle
time counts, see :class:`tcpchat.guard.ConnectionGuard`), frames them
(:class:`tcpchat.protocol.LineBuffer`) and hands all the lines of one
``recv()`` to the room in one change, so they go out as one batch.  Lines
over the flood limit or the length limit never reach the room; their sender
is told why.  When the peer goes, the reader closes the connection, waits
for its writer's goodbye and gives the seat back at the door.
"""

from __future__ import annotations

from tcpchat import events, protocol
from tcpchat.errors import describe
from tcpchat.guard import ConnectionGuard, Limits, Verdict
from tcpchat.server.changes import Changes
from tcpchat.server.delivery import Connection
from tcpchat.server.door import Door
from tcpchat.streams import wait_readable


class Reader:
    """What every reader thread of one server shares: its limits and its changes."""

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
        self.alive: set[Connection] = set()  # reader threads not yet finished

    def run(self, connection: Connection, host: str) -> None:
        """A reader thread's life: read until the peer goes, then close and clean up."""
        changes = self._changes
        buffer = protocol.LineBuffer(self.max_line_bytes)
        guard = ConnectionGuard(self.limits)
        reason = "connection closed"
        try:
            while True:
                # No deadline (None) unless a line is unfinished, or idle time counts.
                timeout = None if connection.closing else guard.seconds_left()
                if timeout is not None and not wait_readable(connection.sock, timeout):
                    expired = guard.expired_reason()
                    if expired is not None:
                        with changes():
                            changes.expel(connection, expired)
                    continue
                data = connection.sock.recv(self.recv_bytes)
                if not data:
                    break
                if connection.closing:
                    continue  # lingering close: drain and ignore
                frames = buffer.feed(data)
                lines = sum(isinstance(frame, protocol.Line) for frame in frames)
                guard.received(lines, buffer.pending_bytes > 0 or buffer.discarding)
                if frames:
                    with changes(connection):
                        self._handle_frames(connection, frames, guard)
        except OSError as exc:
            reason = describe(exc)
        connection.peer_closed.set()
        with changes():
            changes.close(connection, reason, abort=reason != "connection closed")
        connection.done.wait()  # the writer has said goodbye, if there was one to say
        if connection.writer is not None:
            connection.writer.join()
        connection.sock.close()
        with changes.lock:
            self.alive.discard(connection)
            self._door.leave(host)

    def _handle_frames(
        self, connection: Connection, frames: list[protocol.FrameEvent], guard: ConnectionGuard
    ) -> None:
        """Take one chunk's lines through the guard into the room (in a change)."""
        changes = self._changes
        room = changes.room
        for frame in frames:
            if connection not in room:
                return  # it quit earlier in this same chunk
            if isinstance(frame, protocol.Line):
                verdict = guard.check_line()
                if verdict is Verdict.PASS:
                    changes.apply(room.receive(connection, frame.text))
                elif verdict is Verdict.WARN:
                    changes.tell(connection, guard.flood.warning())
                    nick = room.nick_of(connection)
                    changes.emit(events.Notice(f"discarding lines from {nick}: flooding"))
                elif verdict is Verdict.DISCONNECT:
                    changes.expel(connection, guard.flood.disconnect_reason())
                continue
            changes.tell(connection, protocol.LINE_TOO_LONG.format(limit=frame.limit))
            nick = room.nick_of(connection)
            changes.emit(events.Notice(f"discarding an over-long line from {nick}"))
