"""What the server's lines mean to the client: the event to report, and what they say of it.

:func:`read_lines` frames a connection's bytes into lines (dropping, and
saying so, any longer than a server may send) and hands each to the client,
whose :class:`~tcpchat.client.resume.Resumer` takes its ``~`` off; then
:meth:`Incoming.event` returns the event for the front ends and remembers
what the line says about this end: its nickname (the welcome, a welcome
back, a rename of it), a *final refusal* (wrong password, TLS only: trying
again, or another server of the room, would only be refused again) and
whether the server announced that it is shutting down.  The nickname
carries over from one connection to the next (a failover resumes it);
:meth:`Incoming.new_connection` forgets the rest.

Notices are recognised with :mod:`tcpchat.protocol`'s parsers (the same
templates the room formats with), never with private copies of their text.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Callable

from tcpchat import events, protocol
from tcpchat.errors import describe
from tcpchat.streams import Stream
from tcpchat.tls import describe_tls_error


@dataclass
class Incoming:
    """What the server said about this end so far (see the module docstring)."""

    nick: str = ""
    """This end's nickname, as the server last confirmed it."""
    refusal: str = ""
    """The server's final refusal on this connection (wrong password, TLS only), if any."""
    shutdown_announced: bool = False
    """The server said ``* server shutting down`` on this connection."""

    def new_connection(self) -> None:
        """Another connection begins: its refusal and shutdown are yet to be said."""
        self.refusal = ""
        self.shutdown_announced = False

    def event(self, text: str, history: bool = False) -> events.Event:
        """The event for one line from the server (its ``~`` already taken off)."""
        line = protocol.parse_server_line(text)
        if line.kind is protocol.Kind.CHAT:
            own = line.nick == self.nick
            return events.Message(line.nick, line.text, own=own, history=history)
        if history:
            return events.Notice(line.text, history=True)
        if line.text in protocol.FINAL_REFUSALS:
            self.refusal = line.text
            return events.Notice(line.text)
        if protocol.SHUTTING_DOWN.parse(line.text) is not None:
            self.shutdown_announced = True
        welcome = protocol.WELCOME.parse(line.text)
        if welcome is not None:
            self.nick = welcome["nick"]
            return events.Notice(line.text)
        back = protocol.WELCOME_BACK.parse(line.text) or protocol.WELCOME_BACK_TRIMMED.parse(
            line.text
        )
        back = back or protocol.WELCOME_BACK_RESET.parse(line.text)
        if back is not None:
            self.nick = back["nick"]
            return events.Notice(line.text)
        renamed = protocol.RENAMED.parse(line.text) if self.nick else None
        if renamed is not None and renamed["old"] == self.nick:
            self.nick = renamed["new"]
        return events.Notice(line.text)

    def end_reason(self, reason: str) -> str:
        """Why the connection ended, as the user should read it: what the server said, if
        it said why (shutting down, or "wrong password" rather than "closed the connection")."""
        if self.shutdown_announced:
            return protocol.SHUTTING_DOWN.format()
        if self.refusal:
            refused = protocol.CLOSING.parse(self.refusal)
            return "refused: " + (refused["reason"] if refused else self.refusal)
        return reason


def read_lines(
    stream: Stream,
    recv_bytes: int,
    take: Callable[[str], None],
    emit: Callable[[events.Event], None],
) -> str:
    """Hand each line of *stream* to *take* until the stream ends; why it ended.

    A line longer than a server may send (``docs/protocol.md``) is dropped:
    the first with an error event saying the limit and why, and how many in
    all when the connection ends.
    """
    allowance = protocol.MAX_SERVER_LINE_BYTES
    buffer = protocol.LineBuffer(allowance)
    reason = "the server closed the connection"
    too_long = 0  # lines dropped for being longer than the allowance
    try:
        while data := stream.recv(recv_bytes):
            for frame in buffer.feed(data):
                if isinstance(frame, protocol.Line):
                    take(frame.text)
                    continue
                too_long += 1
                if too_long == 1:
                    emit(events.Error(_too_long(allowance)))
    except OSError as exc:
        reason = describe_tls_error(exc) if isinstance(exc, ssl.SSLError) else describe(exc)
    if too_long > 1:
        emit(events.Error(f"{too_long} over-long lines from the server were not shown"))
    return reason


def _too_long(allowance: int) -> str:
    return (
        f"a line from the server was not shown: it was longer than this client accepts "
        f"({allowance} bytes); any more such lines are dropped too"
    )
