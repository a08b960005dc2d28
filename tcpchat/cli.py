"""Command line: ``tcpchat server|client|demo``, wiring the cores to a front end.

Exit codes: 0 done, 1 the server could not be reached or was lost, 2 a usage
problem (bad option, port in use, no display).  Expected failures print one
line naming what failed and what to do; they never print a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any, Sequence

from tcpchat import __version__, protocol
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError
from tcpchat.guard import Limits
from tcpchat.gui.placement import geometry
from tcpchat.server import DEFAULT_HOST, DEFAULT_PORT, ChatServer
from tcpchat.tls import client_context, plaintext_warning, server_context

EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_USAGE = 2


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of at least 0")
    return value


def _count(text: str) -> int:
    return 0 if text.strip() == "0" else _positive(text)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcpchat",
        description="A TCP chat: a server and clients speaking UTF-8 lines.",
        epilog="Defaults come from TCPCHAT_HOST, TCPCHAT_PORT and TCPCHAT_NICK when set.",
    )
    parser.add_argument("--version", action="version", version=f"tcpchat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--host", help=f"address (default {DEFAULT_HOST})")
    common.add_argument("--port", type=_port, help=f"TCP port (default {DEFAULT_PORT})")
    common.add_argument("--headless", action="store_true", help="use the terminal, no window")
    common.add_argument("--log-file", metavar="PATH", help="append a transcript to PATH")
    common.add_argument("--lang", choices=["en", "id"], help="window language (default: locale)")

    server = commands.add_parser("server", parents=[common], help="run the chat server")
    server.add_argument("--nick", help=f"operator's nickname (default {protocol.OPERATOR_NICK})")
    server.add_argument("--max-clients", type=_positive, help="most clients at once")
    server.add_argument("--max-line-bytes", type=_positive, help="longest line accepted")
    server.add_argument("--geometry", type=geometry, help="window size/place: WxH+X+Y (Tk)")
    _add_server_security(server)

    client = commands.add_parser("client", parents=[common], help="connect to a chat server")
    client.add_argument("--nick", help="nickname to ask for on arrival")
    client.add_argument("--reconnect", action="store_true", help="retry with backoff when lost")
    client.add_argument("--geometry", type=geometry, help="window size/place: WxH+X+Y (Tk)")
    _add_client_security(client)

    commands.add_parser("demo", parents=[common], help="a server window and a client window")
    return parser


def _apply_environment(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill options not given on the command line from TCPCHAT_* or the defaults."""
    if args.host is None:
        args.host = os.environ.get("TCPCHAT_HOST") or DEFAULT_HOST
    if args.port is None:
        text = os.environ.get("TCPCHAT_PORT")
        try:
            args.port = _port(text) if text else DEFAULT_PORT
        except argparse.ArgumentTypeError as exc:
            parser.error(f"TCPCHAT_PORT: {exc}")
    if getattr(args, "nick", None) is None and args.command != "server":
        args.nick = os.environ.get("TCPCHAT_NICK") or None
    if args.command in ("server", "client") and args.password is None:
        args.password = os.environ.get("TCPCHAT_PASSWORD") or None
    password = getattr(args, "password", None)
    problem = password is not None and protocol.validate_password(password)
    if problem:  # the password itself is never echoed
        parser.error(f"--password / TCPCHAT_PASSWORD: {problem}")
    if args.command == "server" and args.nick is not None:
        problem = protocol.validate_nick(args.nick)
        if problem:
            parser.error(f"--nick {args.nick!r}: {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _apply_environment(parser, args)
    try:
        if not args.headless:
            from tcpchat.gui.launch import run_window

            return run_window(args)
        return _run_headless(args)
    except ChatError as exc:
        print(f"tcpchat: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNREACHABLE if args.command == "client" else EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


def make_server(args: argparse.Namespace) -> ChatServer:
    return ChatServer(
        args.host,
        args.port,
        operator_nick=args.nick or protocol.OPERATOR_NICK,
        max_clients=args.max_clients,
        max_line_bytes=args.max_line_bytes,
        **server_security(args),
    )


def server_security(args: argparse.Namespace) -> dict[str, Any]:
    """TLS, password and limit flags as ChatServer arguments (only those given).

    Also warns, on standard error, about listening beyond this machine without TLS.
    """
    options: dict[str, Any] = {}
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ChatError("--tls-cert and --tls-key go together: give both")
    if args.tls_cert:
        options["tls"] = server_context(args.tls_cert, args.tls_key)
    if args.password:
        options["password"] = args.password
    given = {field: getattr(args, field) for _, field, _, _ in _LIMIT_FLAGS}
    given = {field: value for field, value in given.items() if value is not None}
    if given:
        options["limits"] = dataclasses.replace(Limits(), **given)
    warning = plaintext_warning(args.host, tls="tls" in options, password="password" in options)
    if warning:
        print(f"tcpchat: {warning}", file=sys.stderr, flush=True)
    return options


def client_security(args: argparse.Namespace) -> dict[str, Any]:
    """``--tls``, ``--cafile`` and ``--password`` as ChatClient arguments."""
    tls = getattr(args, "tls", False) or getattr(args, "cafile", None)
    return {
        "tls": client_context(args.cafile) if tls else None,
        "password": getattr(args, "password", None),
    }


def _run_headless(args: argparse.Namespace) -> int:
    from tcpchat import console

    stdin, stdout, stderr = console.default_streams()
    if args.command == "demo":
        print("tcpchat: demo opens windows; it has no --headless mode", file=stderr)
        return EXIT_USAGE
    transcript = console.TranscriptFile(args.log_file, errors=stderr) if args.log_file else None
    if args.command == "server":
        server = make_server(args)
        if transcript:
            server.add_observer(transcript)
        return console.run_server(server, stdin=stdin, stdout=stdout)
    security = client_security(args)

    def new_client(nick: str | None) -> ChatClient:
        client = ChatClient(args.host, args.port, nick=nick, **security)
        if transcript:
            client.add_observer(transcript)  # first, so the file has a line before the screen
        return client

    return console.run_client(
        new_client,
        nick=args.nick,
        reconnect=args.reconnect,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
    )


def main_server(argv: Sequence[str] | None = None) -> int:
    """``tcpchat-server``: the same as ``tcpchat server``."""
    return main(["server", *(sys.argv[1:] if argv is None else argv)])


def main_client(argv: Sequence[str] | None = None) -> int:
    """``tcpchat-client``: the same as ``tcpchat client``."""
    return main(["client", *(sys.argv[1:] if argv is None else argv)])
