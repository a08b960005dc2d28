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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Union

from tcpchat import events, nicks, protocol
from tcpchat.protocol import Chat, Help, Nick, Pass, Quit, Unknown, Who, format_chat, format_notice

ConnectionId = Hashable

_MAX_ECHO_BYTES = 256
"""Longest unknown command name or leaving reason repeated in a notice (cut with ``…``)."""


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


Action = Union[Broadcast, Reply, Close, events.Message, events.Joined, events.Left, events.Renamed]
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

    # -- queries -----------------------------------------------------------

    def nick_of(self, connection: ConnectionId) -> str:
        """The nickname of a connection in the room."""
        return self._nicks[connection]

    def nicks(self) -> list[str]:
        """Everyone online, operator first, then in order of arrival."""
        return [self.operator_nick, *self._nicks.values()]

    def __contains__(self, connection: object) -> bool:
        return connection in self._nicks

    def __len__(self) -> int:
        return len(self._nicks)

    # -- events ------------------------------------------------------------

    def connect(self, connection: ConnectionId, peer: str = "") -> list[Action]:
        """A new connection (from address *peer*) arrived: name it, welcome it, tell the others."""
        if connection in self._nicks:
            raise ValueError(f"connection {connection!r} is already in the room")
        nick = self._unique_nick(self.default_nick)
        self._nicks[connection] = nick
        self._taken_folded.add(nicks.skeleton(nick))
        return [
            events.Joined(nick, peer),
            Reply(connection, format_notice(protocol.WELCOME.format(nick=nick))),
            Broadcast(format_notice(protocol.JOINED.format(nick=nick))),
        ]

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

    def disconnect(self, connection: ConnectionId, reason: str) -> list[Action]:
        """*connection* is gone (quit, closed, reset, dropped); tell the others."""
        nick = self._nicks.pop(connection, None)
        if nick is None:
            return []
        self._taken_folded.discard(nicks.skeleton(nick))
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
        for nick in self.nicks():
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
        self._nicks[connection] = new
        self._taken_folded.discard(nicks.skeleton(old))
        self._taken_folded.add(nicks.skeleton(new))
        renamed = protocol.RENAMED.format(old=old, new=new)
        return [events.Renamed(old, new), Broadcast(format_notice(renamed))]

    def _taken(self, nick: str) -> bool:
        return nicks.skeleton(nick) in self._taken_folded

    def _unique_nick(self, base: str) -> str:
        """*base* if free, else *base* with the next unused number (Client2, …)."""
        if not self._taken(base):
            return base
        while self._taken(f"{base}{self._next_suffix}"):
            self._next_suffix += 1
        nick = f"{base}{self._next_suffix}"
        self._next_suffix += 1
        return nick
