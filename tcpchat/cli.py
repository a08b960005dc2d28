"""Command line: ``tcpchat server|client|demo``, wiring the cores to a front end.

Exit codes: 0 done, 1 the server could not be reached or was lost, 2 a usage
problem (bad option, port in use, no display).  Expected failures print one
line naming what failed and what to do; they never print a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from tcpchat import __version__, protocol
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError
from tcpchat.server import DEFAULT_HOST, DEFAULT_PORT, ChatServer

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

    client = commands.add_parser("client", parents=[common], help="connect to a chat server")
    client.add_argument("--nick", help="nickname to ask for on arrival")
    client.add_argument("--reconnect", action="store_true", help="retry with backoff when lost")

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
    )


def _run_headless(args: argparse.Namespace) -> int:
    from tcpchat import console

    stdin, stdout, stderr = console.default_streams()
    if args.command == "demo":
        print("tcpchat: demo opens windows; it has no --headless mode", file=stderr)
        return EXIT_USAGE
    transcript = console.TranscriptFile(args.log_file) if args.log_file else None
    if args.command == "server":
        server = make_server(args)
        if transcript:
            server.add_observer(transcript)
        return console.run_server(server, stdin=stdin, stdout=stdout)
    client = ChatClient(args.host, args.port, nick=args.nick)
    if transcript:
        client.add_observer(transcript)
    return console.run_client(client, stdin=stdin, stdout=stdout, stderr=stderr)


def main_server(argv: Sequence[str] | None = None) -> int:
    """``tcpchat-server``: the same as ``tcpchat server``."""
    return main(["server", *(sys.argv[1:] if argv is None else argv)])


def main_client(argv: Sequence[str] | None = None) -> int:
    """``tcpchat-client``: the same as ``tcpchat client``."""
    return main(["client", *(sys.argv[1:] if argv is None else argv)])
