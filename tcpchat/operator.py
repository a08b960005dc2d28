"""The server operator's commands: ``/who``, ``/kick``, ``/help``, ``/quit``.

The operator types where they chat, in the server's terminal or its window.
A line starting with ``/`` is a command for this server, never chat: the
operator is not a client, so nothing typed here goes through the room's
command parser, and a mistyped command must not reach everyone as
``Server: /whoo``.  Like a client, the operator sends a leading ``/`` by
doubling it (``//shrug`` chats ``/shrug``).

Both front ends (:mod:`tcpchat.console`, :mod:`tcpchat.gui.server_window`)
use this one implementation, in two steps:

* :func:`parse_operator_line` is pure: a typed line in, an
  :data:`OperatorCommand` out (``None`` for a blank line);
* :func:`run_operator_command` carries it out on a :class:`ChatServer` and
  returns an :class:`Outcome`: the replies for the operator's eyes only, and
  whether the front end should stop (``/quit``: the terminal stops like
  Ctrl-C, the window closes like its close button).

A reply is a notice format and its fields (:class:`~tcpchat.notices.NoticeFormat`,
the protocol's own class), not finished text, so a window shows it in its
language by the same lookup as the server's notices, and the terminal prints
the English text.  A kick needs no reply: the room's ``* NAME left (…)`` is the
confirmation, in every transcript.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from tcpchat import notices, protocol
from tcpchat.notices import NoticeFormat
from tcpchat.server import ChatServer

KICK_REASON = "kicked by the operator"
"""The reason a kick gives when the operator names none."""

COMMANDS = (
    ("/who", "who is online"),
    ("/kick NAME [REASON]", "disconnect NAME, telling everyone why"),
    ("/help", "this list"),
    ("/quit", "stop the server"),
    ("//TEXT", "chat a line that starts with / (//shrug says /shrug)"),
)
"""Every operator command and what it does: for ``/help`` and ``tcpchat server --help``."""

COMMAND_SUMMARY = ", ".join(f"{usage} ({what})" for usage, what in COMMANDS)

HELP = NoticeFormat("operator help", "operator commands: {commands}")
NOBODY = NoticeFormat(
    "nobody to kick", "error: nobody called {nick} is online (/who lists who is); not kicked"
)
KICK_USAGE = NoticeFormat("kick usage", "error: /kick needs a name: /kick NAME [REASON]")
UNKNOWN = NoticeFormat(
    "unknown operator command",
    "error: unknown command /{name}, not sent; type /help for the commands, "
    "or // to send a leading /",
)
REPLIES = (notices.ONLINE, HELP, NOBODY, KICK_USAGE, UNKNOWN)
"""Every reply an operator command gives (``notices.ONLINE`` is the room's own format)."""


@dataclass(frozen=True)
class Say:
    """Chat *text* to everyone as the operator."""

    text: str


@dataclass(frozen=True)
class Kick:
    """``/kick NAME [REASON]``: close NAME's connection; *nick* empty: no name given."""

    nick: str
    reason: str = KICK_REASON


@dataclass(frozen=True)
class Unknown:
    """A ``/word`` that is not an operator command: refused here, never sent."""

    name: str


OperatorCommand = Union[Say, protocol.Who, protocol.Help, Kick, protocol.Quit, Unknown]
"""``/who``, ``/help`` and ``/quit`` are the protocol's own commands, the operator's way."""


@dataclass(frozen=True)
class Reply:
    """A line for the operator alone: *notice* with *fields* filled in."""

    notice: NoticeFormat
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The reply in English, without the ``* `` (what the terminal prints)."""
        return self.notice.format(**self.fields)

    @property
    def is_error(self) -> bool:
        return self.text.startswith("error:")


@dataclass(frozen=True)
class Outcome:
    """What a command did: replies for the operator, and whether to stop."""

    replies: tuple[Reply, ...] = ()
    quit: bool = False


def parse_operator_line(text: str) -> OperatorCommand | None:
    """The command the operator typed in *text*; ``None`` for a blank line.

    The protocol's parser does the work (blank lines, ``//``, case); the
    operator adds ``/kick`` and turns any other command into :class:`Unknown`.
    """
    word, _, argument = text[1:].partition(" ")
    if text.startswith(protocol.COMMAND_PREFIX) and word.lower() == "kick":
        nick, _, reason = argument.strip().partition(" ")
        return Kick(nick, protocol.neutralise(reason.strip()) or KICK_REASON)
    command = protocol.parse_command(text)
    if command is None or isinstance(command, (protocol.Who, protocol.Help, protocol.Quit)):
        return command
    if isinstance(command, protocol.Chat):
        return Say(command.text)
    return Unknown(protocol.neutralise(word.lower()))


def run_operator_command(server: ChatServer, command: OperatorCommand) -> Outcome:
    """Carry out *command* on *server*; what to show the operator, and whether to stop."""
    if isinstance(command, Say):
        server.say(command.text)
        return Outcome()
    if isinstance(command, protocol.Who):
        return Outcome((Reply(notices.ONLINE, {"nicks": ", ".join(server.nicks())}),))
    if isinstance(command, protocol.Help):
        return Outcome((Reply(HELP, {"commands": COMMAND_SUMMARY}),))
    if isinstance(command, protocol.Quit):
        return Outcome(quit=True)
    if isinstance(command, Kick):
        if not command.nick:
            return Outcome((Reply(KICK_USAGE),))
        if server.kick(command.nick, reason=command.reason):
            return Outcome()  # the room's "* NAME left (REASON)" says it
        return Outcome((Reply(NOBODY, {"nick": protocol.neutralise(command.nick)}),))
    return Outcome((Reply(UNKNOWN, {"name": command.name}),))
