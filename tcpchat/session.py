"""What a client remembers across connections, so a reconnect loses and doubles nothing.

A *session* (see ``docs/protocol.md``) is a client's life in one room, over
any number of TCP connections.  The server numbers the lines of its log
(the broadcasts: chat, joins, leaves, renames) and says, once per
connection, which log it is (its *log id*) and the position the client is
at; from then on every line the client receives without the ``~`` prefix
is the next line of that log, so the client counts its position instead of
the server numbering every line (which would cost the fan-out one copy of
each line per client instead of one shared copy).  After a drop the client
reconnects with ``/resume LOGID POSITION NICK TOKEN`` and the server sends
exactly the lines after POSITION, then live chat.

Two more things make a drop lose nothing the user typed:

* **Unacknowledged chat.**  A chat line in flight when the connection
  dropped may or may not have reached the room.  The server's echo of the
  client's own line (``Eve: text``) is its acknowledgement: a line whose
  echo has not come back by the end of the resumed replay is sent again;
  one whose echo came is not, so nothing is doubled.  Commands (``/nick``)
  have no echo and are not sent again.
* **Pending lines.**  What the user types while disconnected is queued
  (bounded: :attr:`Session.max_pending_lines` lines and
  :attr:`Session.max_pending_bytes` bytes; beyond that the line is refused
  with a message, never dropped silently) and sent after the resume.

This module is pure: it parses nothing off a socket and keeps no threads;
:class:`tcpchat.client.ChatClient` feeds it what it sends and receives,
under its own lock.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from tcpchat import protocol


class PendingFull(Exception):
    """Too much typed while disconnected: the line is refused, not queued."""


@dataclass
class Session:
    """One client's place in one room, across connections (see the module docstring)."""

    nick: str | None = None
    """The nickname asked for, then the one the server confirmed."""
    token: str | None = None
    """The server's secret for this session: it proves a resume is ours."""
    log_id: str | None = None
    """Which log :attr:`position` counts in (positions mean nothing in another log)."""
    position: int | None = None
    """How many lines of that log this client has received."""
    unacked: collections.deque[str] = field(default_factory=collections.deque)
    """Chat texts sent (as the room will echo them) whose echo has not come back."""
    pending: collections.deque[str] = field(default_factory=collections.deque)
    """Lines typed while disconnected, to send once resumed."""

    max_pending_lines = 100
    max_pending_bytes = 64 * 1024
    max_unacked_lines = 1000
    """Past this many lines in flight the oldest are taken as delivered (a chat that
    fast gets its echoes long before a thousand lines are outstanding)."""

    # -- the first line of a connection ------------------------------------

    def hello_line(self) -> str:
        """The line that opens a connection: ``/resume`` if there is a place to go back to."""
        if self.token and self.log_id and self.position is not None and self.nick:
            return f"/resume {self.log_id} {self.position} {self.nick} {self.token}"
        return f"/hello {self.nick}" if self.nick else "/hello"

    # -- what the server says ----------------------------------------------

    def started(self, token: str, log_id: str, position: int) -> bool:
        """The server's ``session`` notice; False if it is another log (history was reset)."""
        same_log = self.log_id is None or self.log_id == log_id
        self.token, self.log_id, self.position = token, log_id, position
        return same_log

    def received(self, line: str) -> None:
        """A log line (one without ``~``) arrived: count it; an echo of ours acknowledges."""
        if self.position is not None:
            self.position += 1
        if self.unacked and self.nick:
            parsed = protocol.parse_server_line(line)
            if parsed.nick == self.nick and parsed.text in self.unacked:
                # The room handles our lines in order: an echo acknowledges every
                # line sent before it too (one the room refused, a flood warning
                # say, never echoes, and must not hold back the rest).
                while self.unacked.popleft() != parsed.text:
                    pass

    # -- what the user sends ------------------------------------------------

    def sent(self, line: str) -> None:
        """*line* went to the server: remember it until its echo comes, if it is chat."""
        echo = expected_echo(line)
        if echo is None:
            return
        self.unacked.append(echo)
        if len(self.unacked) > self.max_unacked_lines:
            self.unacked.popleft()

    def queue(self, line: str) -> None:
        """Hold *line* until the next resume; :class:`PendingFull` if there is no room."""
        held = sum(len(text.encode()) for text in self.pending)
        if (
            len(self.pending) >= self.max_pending_lines
            or held + len(line.encode()) > self.max_pending_bytes
        ):
            raise PendingFull(
                f"not sent: {len(self.pending)} lines are already waiting for the connection "
                f"(at most {self.max_pending_lines} lines or {self.max_pending_bytes} bytes)"
            )
        self.pending.append(line)

    def to_send_after_resume(self) -> list[str]:
        """What to send once the replay is over: unacknowledged chat again, then pending lines.

        Empties both: the unacknowledged lines are sent (and remembered) again
        through :meth:`sent` by the caller.
        """
        again = [protocol.escape_chat(text) for text in self.unacked]
        self.unacked.clear()
        lines = [*again, *self.pending]
        self.pending.clear()
        return lines


def expected_echo(line: str) -> str | None:
    """The text the room will echo for *line* (``Eve: TEXT``), or None if it is no chat."""
    command = protocol.parse_command(protocol.decode_line(line.encode()))
    return command.text if isinstance(command, protocol.Chat) else None
