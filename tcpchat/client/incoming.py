"""What the server's lines mean to the client: the event to report, and what they say of it.

The client's reader hands each line (the :class:`~tcpchat.client.resume.Resumer`
has taken its ``~`` off) to :meth:`Incoming.event`, which returns the event
for the front ends and remembers what the line says about this end: its
nickname (the welcome, a welcome back, a rename of it), a *final refusal*
(wrong password, TLS only: trying again, or another server of the room, would
only be refused again) and whether the server announced that it is shutting
down.  The nickname carries over from one connection to the next (a failover
resumes it); :meth:`Incoming.new_connection` forgets the rest.

Notices are recognised with :mod:`tcpchat.protocol`'s parsers (the same
templates the room formats with), never with private copies of their text.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcpchat import events, protocol


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


def too_long_error(allowance: int) -> str:
    """The error for the first line from the server longer than *allowance* bytes."""
    return (
        f"a line from the server was not shown: it was longer than this client accepts "
        f"({allowance} bytes); any more such lines are dropped too"
    )
