"""What the server and client cores report to their front ends.

The cores never print and never touch a window: they hand these small,
immutable events to *observers*, plain callables registered with
``add_observer()``.  Observers are called on a core's own thread, one event at
a time and in order, so they must be quick and must not touch a GUI toolkit
directly: a window puts events on a queue and drains it on its own thread (see
:mod:`tcpchat.gui.base`); the console front end just prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Union

from tcpchat.errors import format_address


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class Listening:
    """The server is accepting connections on *host*:*port*."""

    host: str
    port: int
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Connected:
    """The client reached the server at *host*:*port*."""

    host: str
    port: int
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Joined:
    """Someone arrived (server side); *peer* is their address."""

    nick: str
    peer: str
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Left:
    """Someone went away (server side), and why."""

    nick: str
    reason: str
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Renamed:
    """Someone changed nickname (server side)."""

    old: str
    new: str
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Message:
    """A chat message; *own* is true for this end's own messages."""

    nick: str
    text: str
    own: bool = False
    history: bool = False
    """True for a line of the history a session client gets on joining (shown dimmed)."""
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Notice:
    """A notice from the server (``* TEXT`` on the wire)."""

    text: str
    history: bool = False
    """True for a notice of the join history (``* Bob joined`` an hour ago)."""
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Error:
    """Something went wrong; *text* is meant for the user."""

    text: str
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Disconnected:
    """The client lost (or closed) its connection, and why."""

    reason: str
    expected: bool = False
    """True when this end asked for it (``close()``), false when it was lost."""
    announced: bool = False
    """True when the server said it was shutting down first: a clean stop, not a loss."""
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Resumed:
    """A session client is back in the room after a reconnect (client side).

    Reported when the replay of what was missed is over and the lines held
    back (unacknowledged chat, then what was typed while away) have been
    sent.  *missed* is how many lines were replayed; None when the server
    could not say (its history was reset, or it no longer kept them: the
    server's own notice, shown before, says which).
    """

    nick: str
    missed: int | None
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Pending:
    """A line typed while disconnected: held, and sent once the session is resumed.

    Not reported by a core: a front end makes it for its own transcript when
    :meth:`tcpchat.client.ChatClient.send` says the line was held.
    """

    text: str
    at: float = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class Stopped:
    """The server has stopped; no more events follow."""

    at: float = field(default_factory=_now, compare=False)


Event = Union[
    Listening,
    Connected,
    Joined,
    Left,
    Renamed,
    Message,
    Notice,
    Error,
    Disconnected,
    Resumed,
    Pending,
    Stopped,
]
Observer = Callable[[Event], None]


PENDING_MARK = "(pending: will be sent when reconnected)"
"""How a terminal or log file shows a :class:`Pending` line."""


def transcript_line(event: Event) -> str:
    """The one line a transcript (console, window, log file) shows for *event*."""
    if isinstance(event, Message):
        return f"{event.nick}: {event.text}"
    if isinstance(event, Notice):
        return f"* {event.text}"
    if isinstance(event, Joined):
        return f"* {event.nick} joined from {event.peer}"
    if isinstance(event, Left):
        return f"* {event.nick} left ({event.reason})"
    if isinstance(event, Renamed):
        return f"* {event.old} is now {event.new}"
    if isinstance(event, Error):
        return f"* error: {event.text}"
    if isinstance(event, Listening):
        return f"* listening on {format_address(event.host, event.port)}"
    if isinstance(event, Connected):
        return f"* connected to {format_address(event.host, event.port)}"
    if isinstance(event, Disconnected):
        return f"* disconnected: {event.reason}"
    if isinstance(event, Resumed):
        missed = "" if event.missed is None else f"; {event.missed} missed lines shown"
        return f"* resumed as {event.nick}{missed}"
    if isinstance(event, Pending):
        return f"{PENDING_MARK} {event.text}"
    return "* server stopped"
