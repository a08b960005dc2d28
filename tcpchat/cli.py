"""Command line: ``tcpchat server|client|demo``, wiring the cores to a front end.

The one module that reads the command line and the environment: it resolves
them into :class:`Settings`, builds the core, the log file and the streams
once (:class:`_Wiring`), and hands those plain objects to the terminal
(:mod:`tcpchat.console`) or to the windows (:mod:`tcpchat.gui.launch`).

Exit codes: 0 done, 1 the server could not be reached or was lost, 2 a usage
problem (bad option, port in use, no display).  Expected failures print one
line naming what failed and what to do; they never print a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from dataclasses import dataclass
from typing import IO, Any, Callable, NoReturn, Sequence, TypeVar

from tcpchat import __version__, console, protocol
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError
from tcpchat.guard import Limits
from tcpchat.gui.placement import geometry
from tcpchat.server import DEFAULT_HOST, DEFAULT_PORT, ChatServer
from tcpchat.sinks import TranscriptFile
from tcpchat.tls import client_context, plaintext_warning, server_context

EXIT_OK = 0
EXIT_UNREACHABLE = 1
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


_port = _number(int, "a port number (0-65535)", lambda port: 0 <= port <= 65535)
_positive = _number(int, "a positive whole number", lambda value: value >= 1)
_seconds = _number(float, "a number of at least 0", lambda value: 0 <= value < math.inf)
_count = _number(int, "a positive whole number", lambda value: value >= 1, off="0")


_LIMIT_FLAGS = (  # flag, tcpchat.guard.Limits field, type, what it limits
    ("--max-lines-per-second", "lines_per_second", _seconds, "chat lines a second per client"),
    ("--burst-lines", "burst_lines", _count, "lines a client may send at once (a paste)"),
    ("--flood-grace", "flood_grace_seconds", _seconds, "seconds of flooding after the warning"),
    ("--max-per-address", "max_connections_per_address", _count, "connections per address"),
    ("--handshake-timeout", "handshake_seconds", _seconds, "seconds to do TLS and the password"),
    ("--line-timeout", "line_seconds", _seconds, "seconds a started line may take to end"),
    ("--idle-timeout", "idle_seconds", _seconds, "seconds without a line before closing"),
)


def _add_server_security(server: argparse.ArgumentParser) -> None:
    group = server.add_argument_group(
        "security and limits", "0 turns a limit off; see docs/security.md"
    )
    group.add_argument("--tls-cert", metavar="PATH", help="serve TLS with this PEM certificate")
    group.add_argument("--tls-key", metavar="PATH", help="the certificate's PEM private key")
    group.add_argument("--password", help="password clients must send (or TCPCHAT_PASSWORD)")
    defaults = Limits()
    for flag, field, kind, what in _LIMIT_FLAGS:
        default = f"{getattr(defaults, field):g}"
        group.add_argument(flag, dest=field, type=kind, metavar="N", help=f"{what} ({default})")


def _add_client_security(client: argparse.ArgumentParser) -> None:
    client.add_argument("--tls", action="store_true", help="connect with TLS")
    client.add_argument("--cafile", metavar="PATH", help="trust this certificate (implies --tls)")
    client.add_argument("--password", help="the server's password (or TCPCHAT_PASSWORD)")


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors in one line, naming the command's own ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tcpchat",
        description="A TCP chat: a server and clients speaking UTF-8 lines.",
        epilog="Defaults come from TCPCHAT_HOST, TCPCHAT_PORT and TCPCHAT_NICK when set.",
    )
    parser.add_argument("--version", action="version", version=f"tcpchat {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    common = _Parser(add_help=False)
    common.add_argument("--host", help=f"address (default {DEFAULT_HOST})")
    common.add_argument("--port", type=_port, help=f"TCP port (default {DEFAULT_PORT})")
    common.add_argument("--log-file", metavar="PATH", help="append a transcript to PATH")
    common.add_argument("--lang", choices=["en", "id"], help="window language (default: locale)")

    headless = _Parser(add_help=False)  # not for demo: it is two windows
    headless.add_argument("--headless", action="store_true", help="use the terminal, no window")
    server = commands.add_parser("server", parents=[common, headless], help="run the chat server")
    server.add_argument("--nick", help=f"operator's nickname (default {protocol.OPERATOR_NICK})")
    server.add_argument("--max-clients", type=_positive, help="most clients at once")
    server.add_argument("--max-line-bytes", type=_positive, help="longest line accepted")
    server.add_argument("--geometry", type=geometry, help="window size/place: WxH+X+Y (Tk)")
    _add_server_security(server)

    client = commands.add_parser(
        "client", parents=[common, headless], help="connect to a chat server"
    )
    client.add_argument("--nick", help="nickname to ask for on arrival")
    client.add_argument("--reconnect", action="store_true", help="retry with backoff when lost")
    client.add_argument("--geometry", type=geometry, help="window size/place: WxH+X+Y (Tk)")
    _add_client_security(client)

    demo = commands.add_parser("demo", parents=[common], help="a server window and a client window")
    for command in (server, client, demo):
        command.set_defaults(command_parser=command)  # whose usage a stray argument gets
    return parser


@dataclass(frozen=True)
class Settings:
    """The command line resolved: each option from its flag, else ``TCPCHAT_*``, else the default.

    This, not argparse's ``Namespace``, is what the rest of this module works
    from; the front ends get only the pieces they need.
    """

    command: str
    host: str
    port: int
    headless: bool = False
    log_file: str | None = None
    lang: str | None = None
    geometry: str | None = None
    display: str | None = None
    nick: str | None = None
    password: str | None = None
    max_clients: int | None = None
    max_line_bytes: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    limits: Limits | None = None
    """The limit flags given, over :class:`Limits`' defaults; ``None``: none given."""
    reconnect: bool = False
    tls: bool = False
    """Client: ``--tls``, or ``--cafile`` (which implies it)."""
    cafile: str | None = None


def _settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Settings:
    """*args* completed from the environment and checked (a problem: ``parser.error``, exit 2)."""
    environ = os.environ
    host = args.host if args.host is not None else (environ.get("TCPCHAT_HOST") or DEFAULT_HOST)
    port = args.port
    if port is None:
        text = environ.get("TCPCHAT_PORT")
        try:
            port = _port(text) if text else DEFAULT_PORT
        except argparse.ArgumentTypeError as exc:
            parser.error(f"TCPCHAT_PORT: {exc}")
    nick = getattr(args, "nick", None)
    if nick is None and args.command != "server":
        nick = environ.get("TCPCHAT_NICK") or None
    password = getattr(args, "password", None)
    if args.command in ("server", "client") and password is None:
        password = environ.get("TCPCHAT_PASSWORD") or None
    problem = password is not None and protocol.validate_password(password)
    if problem:  # the password itself is never echoed
        parser.error(f"--password / TCPCHAT_PASSWORD: {problem}")
    if args.command == "server" and nick is not None:
        problem = protocol.validate_nick(nick)
        if problem:
            parser.error(f"--nick {nick!r}: {problem}")
    given: dict[str, Any] = {field: getattr(args, field, None) for _, field, _, _ in _LIMIT_FLAGS}
    given = {field: value for field, value in given.items() if value is not None}
    return Settings(
        command=args.command,
        host=host,
        port=port,
        headless=getattr(args, "headless", False),
        log_file=args.log_file,
        lang=args.lang,
        geometry=getattr(args, "geometry", None),
        display=environ.get("DISPLAY"),
        nick=nick,
        password=password,
        max_clients=getattr(args, "max_clients", None),
        max_line_bytes=getattr(args, "max_line_bytes", None),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
        limits=dataclasses.replace(Limits(), **given) if given else None,
        reconnect=getattr(args, "reconnect", False),
        tls=bool(getattr(args, "tls", False) or getattr(args, "cafile", None)),
        cafile=getattr(args, "cafile", None),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if not words:  # a bare `tcpchat`: what it can do, not an error
        parser.print_help()
        return EXIT_OK
    args, unknown = parser.parse_known_args(words)
    if unknown:  # reported by the command's own parser, with its own --help
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    settings = _settings(parser, args)
    try:
        if settings.cafile:  # a bad file is a bad option (2), not an unreachable server (1)
            client_context(settings.cafile)
    except ChatError as exc:
        print(f"tcpchat: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    try:
        if settings.headless:
            return _run_headless(settings)
        return _run_window(settings)
    except ChatError as exc:
        print(f"tcpchat: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNREACHABLE if settings.command == "client" else EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


ClientFactory = Callable[[str | None], ChatClient]
"""Makes the :class:`ChatClient` for one connection attempt, given the nickname to ask for."""


class _Wiring:
    """Builds what a front end runs, each part once: the log file, then the core.

    A front end asks for the core only when it is ready for it (a window once
    its display is open), so problems are reported in the same order in every
    mode; :meth:`close` closes the log file at the end.
    """

    def __init__(self, settings: Settings, errors: IO[str]) -> None:
        self.settings = settings
        self._errors = errors  # where the log file reports a failing disk
        self._transcript: TranscriptFile | None = None

    def transcript(self) -> TranscriptFile | None:
        """``--log-file``: one transcript file, the same in every mode."""
        if self.settings.log_file and self._transcript is None:
            self._transcript = TranscriptFile(self.settings.log_file, errors=self._errors)
        return self._transcript

    def server(self) -> ChatServer:
        """The server core, logging to the transcript file."""
        transcript = self.transcript()
        settings = self.settings
        server = ChatServer(
            settings.host,
            settings.port,
            operator_nick=settings.nick or protocol.OPERATOR_NICK,
            max_clients=settings.max_clients,
            max_line_bytes=settings.max_line_bytes,
            **_server_security(settings),
        )
        if transcript:
            server.add_observer(transcript)
        return server

    def client_factory(self) -> ClientFactory:
        """What makes each attempt's client: address, TLS, password, transcript file."""
        transcript = self.transcript()
        settings = self.settings
        tls = client_context(settings.cafile) if settings.tls else None

        def new_client(nick: str | None) -> ChatClient:
            client = ChatClient(
                settings.host, settings.port, nick=nick, tls=tls, password=settings.password
            )
            if transcript:
                client.add_observer(transcript)  # first, so the file has a line before the screen
            return client

        return new_client

    def close(self) -> None:
        if self._transcript is not None:
            self._transcript.close()


def _server_security(settings: Settings) -> dict[str, Any]:
    """TLS, password and limit flags as ChatServer arguments (only those given).

    Also warns, on standard error, about listening beyond this machine without TLS.
    """
    options: dict[str, Any] = {}
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ChatError("--tls-cert and --tls-key go together: give both")
    if settings.tls_cert and settings.tls_key:
        options["tls"] = server_context(settings.tls_cert, settings.tls_key)
    if settings.password:
        options["password"] = settings.password
    if settings.limits is not None:
        options["limits"] = settings.limits
    warning = plaintext_warning(settings.host, tls="tls" in options, password="password" in options)
    if warning:
        print(f"tcpchat: {warning}", file=sys.stderr, flush=True)
    return options


def _run_headless(settings: Settings) -> int:
    stdin, stdout, stderr = _terminal_streams()
    wiring = _Wiring(settings, stderr)
    try:
        if settings.command == "server":
            return console.run_server(wiring.server(), stdin=stdin, stdout=stdout)
        return console.run_client(
            wiring.client_factory(),
            nick=settings.nick,
            reconnect=settings.reconnect,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
        )
    finally:
        wiring.close()


def _run_window(settings: Settings) -> int:
    # Imported here: tkinter is optional, and a missing one is reported by launch.
    from tcpchat.gui import launch

    window = launch.WindowSettings(
        host=settings.host,
        port=settings.port,
        display=settings.display,
        lang=settings.lang,
        geometry=settings.geometry,
        nick=settings.nick,
        reconnect=settings.reconnect,
        log_file=settings.log_file,
    )
    if settings.command == "demo":
        from tcpchat.gui.demo import run_demo

        return run_demo(window)
    wiring = _Wiring(settings, sys.stderr)
    try:
        if settings.command == "server":
            return launch.run_server_window(window, wiring.server)
        return launch.run_client_window(window, wiring.client_factory)
    finally:
        wiring.close()


def _terminal_streams() -> tuple[IO[str], IO[str], IO[str]]:
    """stdin, stdout and stderr, set never to fail on characters they lack."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    return sys.stdin, sys.stdout, sys.stderr


def main_server(argv: Sequence[str] | None = None) -> int:
    """``tcpchat-server``: the same as ``tcpchat server``."""
    return main(["server", *(sys.argv[1:] if argv is None else argv)])


def main_client(argv: Sequence[str] | None = None) -> int:
    """``tcpchat-client``: the same as ``tcpchat client``."""
    return main(["client", *(sys.argv[1:] if argv is None else argv)])
