"""The command line's grammar and its help: options, defaults, environment, examples.

Part of the command line (:mod:`tcpchat.cli` imports it; nothing else does).
The help says what a run would do *here*: each option's default is the one
the run would use, read from the same place, so with ``TCPCHAT_PORT=9001``
``--help`` says ``(default 9001, from TCPCHAT_PORT)``.  The ``env_*``
functions are that one place: :func:`build_parser` words the help with them
and :mod:`tcpchat.cli` resolves the settings with them, so the two cannot
disagree.  A bad value in the environment is named in the help and refused
by a run (one line, exit 2).  The password is never shown, only whether
``TCPCHAT_PASSWORD`` is set.

Each command's help ends with examples, and with the slash commands of the
side it runs: the client's (the protocol's, :data:`CLIENT_COMMANDS`) or the
operator's (:data:`tcpchat.operator.COMMANDS`, the list its ``/help`` prints).
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Callable, Mapping, NoReturn, TypeVar

from tcpchat import __version__, operator, protocol
from tcpchat.guard import Limits
from tcpchat.gui.placement import geometry
from tcpchat.server import DEFAULT_HOST, DEFAULT_PORT, ChatServer
from tcpchat.server.cluster import RedisStore

EXIT_USAGE = 2

_Number = TypeVar("_Number", int, float)


def _number(
    kind: Callable[[str], _Number],
    what: str,
    accept: Callable[[_Number], bool],
    *,
    off: str | None = None,
) -> Callable[[str], _Number]:
    """An argparse ``type=``: *text* read as *kind*, refused unless *accept* says yes.

    The error names the text and *what* it should have been.  With *off*, that
    exact text (spaces aside) is let through as the value that turns a limit off.
    """

    def convert(text: str) -> _Number:
        if off is not None and text.strip() == off:
            return kind(off)
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return convert


port_number = _number(int, "a port number (0-65535)", lambda port: 0 <= port <= 65535)
_positive = _number(int, "a positive whole number", lambda value: value >= 1)
_seconds = _number(float, "a number of at least 0", lambda value: 0 <= value < math.inf)
_count = _number(int, "a positive whole number", lambda value: value >= 1, off="0")


LIMIT_FLAGS = (  # flag, tcpchat.guard.Limits field, type, what it limits
    (
        "--max-lines-per-second",
        "lines_per_second",
        _seconds,
        "lines a second per address; over it lines are held back",
    ),
    ("--burst-lines", "burst_lines", _count, "lines an address may send at once before pacing"),
    (
        "--flood-grace",
        "flood_grace_seconds",
        _seconds,
        "no effect: lines are paced, not discarded (kept for old command lines)",
    ),
    ("--max-per-address", "max_connections_per_address", _count, "connections per address"),
    ("--joins-per-second", "joins_per_second", _seconds, "new connections a second per address"),
    ("--burst-joins", "burst_joins", _count, "connections an address may open at once"),
    ("--handshake-timeout", "handshake_seconds", _seconds, "seconds to do TLS and the password"),
    ("--line-timeout", "line_seconds", _seconds, "seconds a started line may take to end"),
    ("--idle-timeout", "idle_seconds", _seconds, "seconds without a line before closing"),
)

CLIENT_COMMANDS = (
    ("/nick NAME", "change your nickname"),
    ("/who", "who is online"),
    ("/help", "the commands, from the server"),
    ("/quit", "leave (so does end of input, Ctrl-D)"),
    ("//TEXT", "chat a line that starts with / (//shrug says /shrug)"),
)
"""The slash commands a client types (the protocol's, :func:`tcpchat.protocol.parse_command`)."""


# -- the environment: the one reading of TCPCHAT_* for help and run alike ----------------


def env_host(environ: Mapping[str, str]) -> str:
    return environ.get("TCPCHAT_HOST") or DEFAULT_HOST


def env_port(environ: Mapping[str, str]) -> int:
    """``TCPCHAT_PORT`` or the default; ``ArgumentTypeError`` naming it if it is bad."""
    text = environ.get("TCPCHAT_PORT")
    try:
        return port_number(text) if text else DEFAULT_PORT
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"TCPCHAT_PORT: {exc}") from None


def env_nick(environ: Mapping[str, str], *, operator_nick: bool) -> str | None:
    """``TCPCHAT_NICK`` (None if unset or empty); for the operator it must be a valid
    nickname, else ``ArgumentTypeError`` naming it (a client's is the server's to judge)."""
    nick = environ.get("TCPCHAT_NICK") or None
    problem = nick is not None and operator_nick and protocol.validate_nick(nick)
    if problem:
        raise argparse.ArgumentTypeError(f"TCPCHAT_NICK {nick!r}: {problem}")
    return nick


def _default(environ: Mapping[str, str], name: str, read: Callable[[], object]) -> str:
    """``default VALUE``, saying when it comes from *name*; or why *name* is refused."""
    try:
        value = read()
    except argparse.ArgumentTypeError as exc:
        return f"refused: {exc}"
    return f"default {value}, from {name}" if environ.get(name) else f"default {value}"


# -- the parser -------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse with usage errors in one line, naming the command's own ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _table(title: str, rows: tuple[tuple[str, str], ...]) -> str:
    width = max(len(left) for left, _ in rows) + 2
    return "\n".join([f"{title}:", *(f"  {left:<{width}}{right}" for left, right in rows)])


def _examples(rows: tuple[tuple[str, str], ...]) -> str:
    """Each example's command line, its comment on the next (narrow terminals read it too)."""
    return "\n".join(["examples:", *(f"  {line}\n      {what}" for line, what in rows)])


_RAW = argparse.RawDescriptionHelpFormatter  # the epilogs' tables keep their lines

_ENVIRONMENT = (
    "environment: TCPCHAT_HOST, TCPCHAT_PORT and TCPCHAT_NICK set the defaults that a\n"
    "command's --help shows; TCPCHAT_PASSWORD the password (server and client);\n"
    "TCPCHAT_ROOM the server's --room; TCPCHAT_SERVERS the client's --server list."
)

_EPILOGS = {
    "tcpchat": _examples(
        (
            ("tcpchat demo", "a server window and a client window"),
            ("tcpchat server --headless", "a server in this terminal"),
            ("tcpchat client --headless --nick budi", "a client in another"),
            ("tcpchat server --help", "a command's options, examples and slash commands"),
        ),
    ),
    "server": _table("operator commands (in the terminal or the window)", operator.COMMANDS)
    + "\n  anything else is chat, to everyone (Server: TEXT)\n\n"
    + _examples(
        (
            ("tcpchat server", "a server window on 127.0.0.1:9000"),
            ("tcpchat server --headless --nick Boss", "in the terminal, chatting as Boss"),
            ("TCPCHAT_PORT=9001 tcpchat server --headless", "the environment sets defaults"),
            ("tcpchat server --host 0.0.0.0 --tls-cert C --tls-key K", "TLS, for other machines"),
            (
                "tcpchat server --store redis://127.0.0.1:6379 --port 9001 --nick Server2",
                "a second server of the same room (and the first with --store redis://...)",
            ),
        ),
    ),
    "client": _table("chat commands (typed as a line)", CLIENT_COMMANDS)
    + "\n\n"
    + _examples(
        (
            ("tcpchat client --nick budi", "a client window, as budi"),
            ("tcpchat client --headless --reconnect", "in the terminal, back after a restart"),
            ("tcpchat client --host chat.example --tls --password S", "TLS and a password"),
            (
                "tcpchat client --server 127.0.0.1:9000 --server 127.0.0.1:9001",
                "two servers of one room: if one goes, the session goes on on the other",
            ),
        ),
    ),
    "demo": _examples(
        (
            ("tcpchat demo", "both windows on 127.0.0.1:9000"),
            ("tcpchat demo --port 9001 --lang id", "on another port, in Indonesian"),
        ),
    ),
}


_lines = _number(int, "a whole number of at least 0", lambda value: value >= 0)


def _add_server_sessions(server: argparse.ArgumentParser) -> None:
    group = server.add_argument_group("history and sessions (see docs/protocol.md)")
    group.add_argument(
        "--history",
        type=_lines,
        metavar="N",
        help=f"newest lines shown to who joins (default {ChatServer.history}; 0: none)",
    )
    group.add_argument(
        "--resume-grace",
        type=_seconds,
        metavar="SECONDS",
        help="how long a dropped session keeps its nickname to resume "
        f"(default {ChatServer.resume_grace:g}; 0: not at all)",
    )
    group.add_argument(
        "--store",
        metavar="DIR|URL",
        help="keep the history in DIR: it survives a crash and a restart; or in Redis at "
        "redis://HOST:PORT[/DB], shared by every server of --room (default: memory)",
    )
    group.add_argument(
        "--fsync",
        action="store_true",
        help="with --store DIR: each batch on the disk before it is sent (survives a power cut)",
    )
    cluster = server.add_argument_group(
        "several servers, one room (with --store redis://...; see docs/cluster.md)"
    )
    cluster.add_argument(
        "--room",
        metavar="NAME",
        help=f"the room this server serves (default {RedisStore.room}; "
        "letters, digits, '.', '_', '-')",
    )
    cluster.add_argument(
        "--store-maxlen",
        type=_lines,
        metavar="N",
        help=f"batches of lines Redis keeps (default {RedisStore.max_entries})",
    )
    cluster.add_argument(
        "--lease",
        type=_seconds,
        metavar="SECONDS",
        help="how long the nicknames of a server that died stay taken "
        f"(default {RedisStore.lease_seconds:g})",
    )


def _add_server_security(server: argparse.ArgumentParser, password: str) -> None:
    group = server.add_argument_group(
        "security and limits", "0 turns a limit off; see docs/security.md"
    )
    group.add_argument(
        "--tls-cert",
        metavar="PATH",
        help="serve TLS with this PEM certificate (default: none, plain TCP)",
    )
    group.add_argument(
        "--tls-key", metavar="PATH", help="the certificate's PEM private key (default: none)"
    )
    group.add_argument("--password", help=f"password clients must send ({password})")
    group.add_argument(
        "--limit-loopback",
        action="store_true",
        default=None,
        help="apply the per-address limits to loopback peers too (a server behind a local "
        "proxy or SSH tunnel, where every peer looks local; default: loopback is exempt)",
    )
    defaults = Limits()
    for flag, field, kind, what in LIMIT_FLAGS:
        value = getattr(defaults, field)
        default = f"{value:g}" + (": off" if value == 0 else "")
        group.add_argument(
            flag, dest=field, type=kind, metavar="N", help=f"{what} (default {default})"
        )


def _add_client_security(client: argparse.ArgumentParser, password: str) -> None:
    client.add_argument("--tls", action="store_true", help="connect with TLS")
    client.add_argument(
        "--cafile",
        metavar="PATH",
        help="trust this certificate, implies --tls (default: the system's CAs)",
    )
    client.add_argument("--password", help=f"the server's password ({password})")


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The ``tcpchat`` parser, its help giving the defaults *environ* (``os.environ``) makes."""
    env = os.environ if environ is None else environ
    parser = Parser(
        prog="tcpchat",
        description="A TCP chat: a server and clients speaking UTF-8 lines.",
        epilog=_EPILOGS["tcpchat"] + "\n\n" + _ENVIRONMENT,
        formatter_class=_RAW,
    )
    parser.add_argument("--version", action="version", version=f"tcpchat {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    host = _default(env, "TCPCHAT_HOST", lambda: env_host(env))
    port = _default(env, "TCPCHAT_PORT", lambda: env_port(env))
    password = "default: TCPCHAT_PASSWORD, " + ("set" if env.get("TCPCHAT_PASSWORD") else "unset")
    common = Parser(add_help=False)
    common.add_argument("--host", help=f"address ({host})")
    common.add_argument("--port", type=port_number, help=f"TCP port ({port})")
    common.add_argument("--log-file", metavar="PATH", help="append a transcript (default: none)")
    common.add_argument(
        "--lang", choices=["en", "id"], help="window language (default: from the locale, LANG)"
    )
    where = "window size and place (Tk; default: half the screen, side by side)"

    headless = Parser(add_help=False)  # not for demo: it is two windows
    headless.add_argument("--headless", action="store_true", help="use the terminal, no window")
    server = commands.add_parser(
        "server",
        parents=[common, headless],
        help="run the chat server",
        epilog=_EPILOGS["server"] + "\n\n" + _ENVIRONMENT,
        formatter_class=_RAW,
    )
    operator_nick = env_nick(env, operator_nick=False) or protocol.OPERATOR_NICK
    nick = _default(env, "TCPCHAT_NICK", lambda: env_nick(env, operator_nick=True) or operator_nick)
    server.add_argument("--nick", help=f"the operator's nickname ({nick})")
    server.add_argument(
        "--max-clients",
        type=_positive,
        metavar="N",
        help=f"most clients at once (default {ChatServer.max_clients})",
    )
    server.add_argument(
        "--max-line-bytes",
        type=_positive,
        metavar="N",
        help=f"longest line accepted, in bytes (default {ChatServer.max_line_bytes})",
    )
    server.add_argument("--geometry", type=geometry, metavar="WxH+X+Y", help=where)
    _add_server_sessions(server)
    _add_server_security(server, password)

    client = commands.add_parser(
        "client",
        parents=[common, headless],
        help="connect to a chat server",
        epilog=_EPILOGS["client"] + "\n\n" + _ENVIRONMENT,
        formatter_class=_RAW,
    )
    client_nick = env_nick(env, operator_nick=False)
    asked = (
        f"default {client_nick}, from TCPCHAT_NICK"
        if client_nick
        else "default: the server's choice, Client, Client2, …"
    )
    client.add_argument("--nick", help=f"nickname to ask for on arrival ({asked})")
    client.add_argument("--reconnect", action="store_true", help="retry with backoff when lost")
    client.add_argument(
        "--server",
        dest="servers",
        action="append",
        metavar="HOST:PORT",
        help="a server of the room, instead of --host/--port; give several to go on on the "
        "next when one is lost (implies --reconnect; default: TCPCHAT_SERVERS, comma-separated)",
    )
    client.add_argument("--geometry", type=geometry, metavar="WxH+X+Y", help=where)
    _add_client_security(client, password)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="a server window and a client window",
        epilog=_EPILOGS["demo"],
        formatter_class=_RAW,
    )
    for command in (server, client, demo):
        command.set_defaults(command_parser=command)  # whose usage a stray argument gets
    return parser
