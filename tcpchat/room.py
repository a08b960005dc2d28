"""The chat room as a pure state machine: who is here and what each line does.

:class:`ChatRoom` knows nicknames and commands but nothing of sockets or
threads.  Every method takes what happened (a connection arrived, a line was
received, a peer went away) and returns the :data:`Action` list the caller must
carry out: a line for everyone, a line for one connection, or a connection to
close, and the :mod:`tcpchat.events` the front ends are told (the same event
types they receive, so the server passes them on untranslated).  The threaded
server in :mod:`tcpchat.server` calls it under one lock, which is what makes
the broadcast order total; the tests drive it directly.  Every notice's text
comes from its :class:`tcpchat.protocol.NoticeFormat`, which the client parses
with.

A room may be served by several servers (:mod:`tcpchat.server.cluster`):
then a nickname must be free on all of them, so the room asks its
:class:`Registry` before it gives a name, tells it when a name is freed, and
lists the other servers' names in ``/who``.  The registry is the one seam
through which the room learns about the world beyond its own connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Protocol, Union

from tcpchat import events, nicks, protocol
from tcpchat.protocol import (
    Chat,
    Hello,
    Help,
    Nick,
    Pass,
    Quit,
    Resume,
    Unknown,
    Who,
    format_chat,
    format_notice,
)
from tcpchat.reservations import Reservations

ConnectionId = Hashable

_MAX_ECHO_BYTES = 256
"""Longest unknown command name or leaving reason repeated in a notice (cut with ``…``)."""


class Registry(Protocol):
    """The nicknames beyond this room object: those of the other servers of a cluster.

    Its calls may wait on the network (one round trip); the room makes them
    only when a name is given, changed or freed, never per line.
    """

    def claim(self, nick: str, token: str = "", replacing: str = "") -> bool:
        """Take *nick* for a client of this room (a session's *token*, if any).

        False if another server's client has it.  *replacing*: the client's
        current name, which *nick* replaces (released once *nick* is taken).
        """

    def release(self, nick: str) -> None:
        """This room has freed *nick*."""

    def take_over(self, nick: str, token: str) -> str | None:
        """Take *nick* from the server its session (*token*) was on; the name as held, or None."""

    def others(self) -> list[str]:
        """Everyone on the other servers, for ``/who``."""


@dataclass(frozen=True)
class Broadcast:
    """Send *line* to every connection, in the room's single order."""

    line: str


@dataclass(frozen=True)
class Reply:
    """Send *line* to one connection only."""

    connection: ConnectionId
    line: str


@dataclass(frozen=True)
class Close:
    """Close *connection* once what was sent to it has gone out."""

    connection: ConnectionId


Action = Union[
    Broadcast,
    Reply,
    Close,
    events.Message,
    events.Joined,
    events.Left,
    events.Renamed,
    events.Notice,
]
"""What to send or close, or (the events) what to tell observers."""


class ChatRoom:
    """Nicknames and commands for one chat room.

    Not thread-safe on purpose: the caller serialises calls, and the order of
    the calls is the order everyone sees.
    """

    def __init__(
        self,
        operator_nick: str = protocol.OPERATOR_NICK,
        default_nick: str = protocol.DEFAULT_CLIENT_NICK,
        resume_grace: float = 0.0,
        registry: Registry | None = None,
    ) -> None:
        for name in (operator_nick, default_nick):
            problem = protocol.validate_nick(name)
            if problem is not None:
                raise ValueError(f"{name!r}: {problem}")
        self.operator_nick = operator_nick
        self.default_nick = default_nick
        self._nicks: dict[ConnectionId, str] = {}
        self._taken_folded: set[str] = {nicks.skeleton(operator_nick)}
        """The :func:`tcpchat.nicks.skeleton` of every name in use, the operator's included."""
        self._next_suffix = 2
        self._tokens: dict[ConnectionId, str] = {}  # session connections' tokens
        self.reservations = Reservations(resume_grace)
        """Nicknames of dropped sessions, held until their grace ends (see :meth:`expire`)."""
        self.registry = registry
        """The other servers' names, when the room is served by several (None: alone)."""

    # -- queries -----------------------------------------------------------

    def nick_of(self, connection: ConnectionId) -> str:
        """The nickname of a connection in the room."""
        return self._nicks[connection]

    def nicks(self) -> list[str]:
        """Everyone online, operator first, then in order of arrival."""
        return [self.operator_nick, *self._nicks.values()]

    def online(self) -> list[str]:
        """:meth:`nicks`, then (served by several servers) everyone on the others."""
        return [*self.nicks(), *([] if self.registry is None else self.registry.others())]

    def __contains__(self, connection: object) -> bool:
        return connection in self._nicks

    def __len__(self) -> int:
        return len(self._nicks)

    # -- events ------------------------------------------------------------

    def connect(
        self, connection: ConnectionId, peer: str = "", nick: str = "", token: str = ""
    ) -> list[Action]:
        """A new connection (from address *peer*) arrived: name it, welcome it, tell the others.

        *nick*: the name asked for (``/hello NICK``), if free and valid; else a
        default name and a reply saying why.  *token*: the session's, if any.
        """
        if connection in self._nicks:
            raise ValueError(f"connection {connection!r} is already in the room")
        name, refused = self._seat(connection, nick, token)
        return [
            events.Joined(name, peer),
            Reply(connection, format_notice(protocol.WELCOME.format(nick=name))),
            *refused,
            Broadcast(format_notice(protocol.JOINED.format(nick=name))),
        ]

    def resume(
        self, connection: ConnectionId, peer: str, nick: str, token: str
    ) -> tuple[str, list[Action]]:
        """A session comes back on a new connection: its nickname, and the actions.

        The name held for *token* (a drop in its grace), or held by a still
        open connection of *token* (closed silently: a :class:`Close` for a
        connection no longer in the room), comes back with no notice to
        anyone.  Otherwise *nick* joins as new (if free; else a default name).
        The welcome-back reply is the caller's: it knows the log.
        """
        if connection in self._nicks:
            raise ValueError(f"connection {connection!r} is already in the room")
        old = next((c for c, t in self._tokens.items() if t == token), None)
        if old is not None:
            name = self._nicks.pop(old)
            del self._tokens[old]
            self._nicks[connection], self._tokens[connection] = name, token
            return name, [Close(old), events.Notice(f"{name} resumed from {peer}")]
        held = self.reservations.claim(token)
        if held is not None:
            self._nicks[connection], self._tokens[connection] = held, token
            return held, [events.Notice(f"{held} resumed from {peer}")]
        moved = None if self.registry is None else self.registry.take_over(nick, token)
        if moved is not None:  # its server went away; the room never saw it leave
            self._nicks[connection], self._tokens[connection] = moved, token
            self._taken_folded.add(nicks.skeleton(moved))
            return moved, [events.Notice(f"{moved} resumed from {peer}, from another server")]
        name, refused = self._seat(connection, nick, token)
        joined = format_notice(protocol.JOINED.format(nick=name))
        return name, [events.Joined(name, peer), *refused, Broadcast(joined)]

    def expire(self, now: float) -> list[Action]:
        """Announce the dropped sessions whose grace has ended by *now*; free their names."""
        actions: list[Action] = []
        for nick in self.reservations.expired(now):
            self._free(nick)
            left = protocol.LEFT.format(nick=nick, reason=protocol.CONNECTION_LOST)
            actions += [events.Left(nick, protocol.CONNECTION_LOST), Broadcast(format_notice(left))]
        return actions

    def let_go(self, nick: str) -> list[Action]:
        """*nick* is no longer this room's (its session resumed on another server): forget it.

        Nobody is told it left, since it has not: its connection here (if any)
        is closed with a word to it, a name held for its grace is dropped.
        """
        for connection, held in self._nicks.items():
            if held == nick:
                del self._nicks[connection]
                self._tokens.pop(connection, None)
                self._taken_folded.discard(nicks.skeleton(nick))
                reason = f"{nick} is now held on another server of this room"
                moved = protocol.CLOSING.format(reason=reason)
                news = events.Notice(f"{nick} is now on another server of this room")
                return [Reply(connection, format_notice(moved)), Close(connection), news]
        token = self.reservations.holds(nick)
        if token is not None:
            self.reservations.claim(token)
            self._taken_folded.discard(nicks.skeleton(nick))
            return [events.Notice(f"{nick} resumed on another server of this room")]
        return []

    def receive(self, connection: ConnectionId, text: str) -> list[Action]:
        """One complete line arrived from *connection*."""
        nick = self._nicks[connection]
        command = protocol.parse_command(text)
        if command is None:
            return []
        if isinstance(command, Chat):
            return self._chat(nick, command.text)
        if isinstance(command, Nick):
            return self._rename(connection, nick, command.name)
        if isinstance(command, Who):
            return [Reply(connection, line) for line in self._online_lines()]
        if isinstance(command, Help):
            help_text = protocol.HELP.format(commands=protocol.COMMAND_HELP)
            return [Reply(connection, format_notice(help_text))]
        if isinstance(command, (Hello, Resume)):
            return [Reply(connection, format_notice(protocol.FIRST_LINE_ONLY.format()))]
        if isinstance(command, Pass):
            # Passwords are checked before a connection joins (tcpchat.server.door);
            # here one is just a mistake, and the reply says nothing about any password.
            return [Reply(connection, format_notice(protocol.ALREADY_IN.format()))]
        if isinstance(command, Quit):
            return [
                Reply(connection, format_notice(protocol.BYE.format())),
                Close(connection),
                *self.disconnect(connection, "quit"),
            ]
        assert isinstance(command, Unknown)
        name = protocol.clip(command.name, _MAX_ECHO_BYTES)
        unknown = protocol.UNKNOWN_COMMAND.format(name=name)
        return [Reply(connection, format_notice(unknown))]

    def operator_says(self, text: str) -> list[Action]:
        """The server's operator chats (never a command: the operator has a UI)."""
        if not text.strip():
            return []
        return self._chat(self.operator_nick, protocol.neutralise(text), own=True)

    def disconnect(
        self, connection: ConnectionId, reason: str, now: float | None = None
    ) -> list[Action]:
        """*connection* is gone (quit, closed, reset, dropped); tell the others.

        With *now* (the connection was lost, not closed on purpose), a
        session's nickname is held for its grace instead: nobody is told yet.
        """
        nick = self._nicks.pop(connection, None)
        token = self._tokens.pop(connection, None)
        if nick is None:
            return []
        if token is not None and now is not None and self.reservations.hold(token, nick, now):
            grace = f"{self.reservations.grace_seconds:g}"
            return [events.Notice(f"{nick} dropped ({reason}); the name is kept {grace} s")]
        self._free(nick)
        reason = protocol.clip(reason, _MAX_ECHO_BYTES)
        left = protocol.LEFT.format(nick=nick, reason=reason)
        return [events.Left(nick, reason), Broadcast(format_notice(left))]

    # -- helpers -----------------------------------------------------------

    def _chat(self, nick: str, text: str, own: bool = False) -> list[Action]:
        """*nick* says *text*: one line each, or several if the text is too long for one."""
        actions: list[Action] = []
        for piece in protocol.split_text(text):
            actions += [events.Message(nick, piece, own), Broadcast(format_chat(nick, piece))]
        return actions

    def _online_lines(self) -> list[str]:
        """The ``/who`` answer, over as many lines as it takes to keep each under the limit."""
        room = protocol.MAX_SERVER_LINE_BYTES - len(format_notice(protocol.ONLINE.format(nicks="")))
        lines: list[str] = []
        names: list[str] = []
        size = 0
        away = [nick + protocol.AWAY for nick in self.reservations.nicks()]
        for nick in [*self.online(), *away]:
            width = len(nick.encode("utf-8")) + (2 if names else 0)  # ", " between names
            if names and size + width > room:
                lines.append(format_notice(protocol.ONLINE.format(nicks=", ".join(names))))
                names, size, width = [], 0, width - 2
            names.append(nick)
            size += width
        lines.append(format_notice(protocol.ONLINE.format(nicks=", ".join(names))))
        return lines

    def _rename(self, connection: ConnectionId, old: str, new: str) -> list[Action]:
        new = nicks.normalise(new)
        problem = protocol.validate_nick(new)
        if problem is None and nicks.skeleton(new) != nicks.skeleton(old) and self._taken(new):
            problem = f"{new} is already taken"
        if problem is not None:
            refused = protocol.NICK_REFUSED.format(problem=problem, nick=old)
            return [Reply(connection, format_notice(refused))]
        if new == old:
            return [Reply(connection, format_notice(protocol.ALREADY_NAMED.format(nick=old)))]
        token = self._tokens.get(connection, "")
        if self.registry is not None and not self.registry.claim(new, token, replacing=old):
            refused = protocol.NICK_REFUSED.format(problem=f"{new} is already taken", nick=old)
            return [Reply(connection, format_notice(refused))]
        self._nicks[connection] = new
        self._taken_folded.discard(nicks.skeleton(old))
        self._taken_folded.add(nicks.skeleton(new))
        renamed = protocol.RENAMED.format(old=old, new=new)
        return [events.Renamed(old, new), Broadcast(format_notice(renamed))]

    def _seat(self, connection: ConnectionId, nick: str, token: str) -> tuple[str, list[Action]]:
        """Give *connection* *nick* if it may have it, else a default name and why not."""
        refused: list[Action] = []
        wanted = nicks.normalise(nick)
        problem = protocol.validate_nick(wanted) if nick else None
        if problem is None and nick and not self._claim(wanted, token):
            problem = f"{wanted} is already taken"
        name = wanted if nick and problem is None else self._unique_nick(self.default_nick, token)
        if problem is not None:
            text = protocol.NICK_REFUSED.format(problem=problem, nick=name)
            refused.append(Reply(connection, format_notice(text)))
        self._nicks[connection] = name
        self._taken_folded.add(nicks.skeleton(name))
        if token:
            self._tokens[connection] = token
        return name, refused

    def _taken(self, nick: str) -> bool:
        return nicks.skeleton(nick) in self._taken_folded

    def _claim(self, nick: str, token: str) -> bool:
        """Whether *nick* is free here and (with a registry) now claimed on every server."""
        if self._taken(nick):
            return False
        return self.registry is None or self.registry.claim(nick, token)

    def _free(self, nick: str) -> None:
        self._taken_folded.discard(nicks.skeleton(nick))
        if self.registry is not None:
            self.registry.release(nick)

    def _unique_nick(self, base: str, token: str = "") -> str:
        """*base* if free, else *base* with the next unused number (Client2, …)."""
        nick = base
        while not self._claim(nick, token):
            nick = f"{base}{self._next_suffix}"
            self._next_suffix += 1
        return nick
