"""Command line: ``tcpchat server|client|demo``, wiring the cores to a front end.

With :mod:`tcpchat.cli_help` (the grammar, the help, and the one reading of
``TCPCHAT_*`` that both the help's defaults and a run use), the one place
that reads the command line and the environment: it resolves them into
:class:`Settings`, builds the core, the log file and the streams once
(:class:`_Wiring`), and hands those plain objects to the terminal
(:mod:`tcpchat.console`) or to the windows (:mod:`tcpchat.gui.launch`).

Exit codes: 0 done, 1 the server could not be reached or was lost, 2 a usage
problem (bad option, port in use, no display).  Expected failures print one
line naming what failed and what to do; they never print a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass
from typing import IO, Any, Callable, Mapping, Sequence

from tcpchat import console, protocol
from tcpchat.cli_help import EXIT_USAGE, LIMIT_FLAGS, build_parser, env_host, env_nick, env_port
from tcpchat.client import ChatClient
from tcpchat.client.servers import parse_server, parse_servers
from tcpchat.errors import ChatError
from tcpchat.filelog import FileLog
from tcpchat.guard import Limits
from tcpchat.server import ChatServer
from tcpchat.server.cluster import Cluster, RedisStore
from tcpchat.sinks import TranscriptFile
from tcpchat.tls import client_context, plaintext_warning, server_context

EXIT_OK = 0
EXIT_UNREACHABLE = 1
__all__ = [
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "LIMIT_FLAGS",
    "Settings",
    "build_parser",
    "main",
]


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
    history: int | None = None
    resume_grace: float | None = None
    store: str | None = None
    fsync: bool = False
    room: str | None = None
    store_maxlen: int | None = None
    lease: float | None = None
    servers: tuple[tuple[str, int], ...] = ()
    """Client: ``--server`` (or ``TCPCHAT_SERVERS``); the first is also host and port."""


def _settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Settings:
    """*args* completed from the environment and checked (a problem: ``parser.error``, exit 2)."""
    environ = os.environ
    try:  # the same readings as the help's defaults (cli_help)
        host = args.host if args.host is not None else env_host(environ)
        port = args.port if args.port is not None else env_port(environ)
        nick = getattr(args, "nick", None)
        if nick is None and args.command != "demo":  # the demo's windows: see gui/demo.py
            nick = env_nick(environ, operator_nick=args.command == "server")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
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
    cluster = {name: getattr(args, name, None) for name in ("room", "store_maxlen", "lease")}
    if args.command == "server" and cluster["room"] is None:
        cluster["room"] = environ.get("TCPCHAT_ROOM") or None
    store = getattr(args, "store", None)
    if any(value is not None for value in cluster.values()) and not _is_redis(store):
        flag = next(name for name, value in cluster.items() if value is not None)
        parser.error(f"--{flag.replace('_', '-')} goes with --store redis://HOST:PORT")
    if _is_redis(store) and getattr(args, "fsync", False):
        parser.error("--fsync goes with --store DIR (Redis has its own: see docs/cluster.md)")
    servers = _servers(parser, args, environ)
    if servers and (args.host is not None or args.port is not None):
        parser.error("--server names the servers: give it or --host/--port, not both")
    if servers:
        host, port = servers[0]
    limit_fields = ["limit_loopback", *(field for _, field, _, _ in LIMIT_FLAGS)]
    given: dict[str, Any] = {field: getattr(args, field, None) for field in limit_fields}
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
        reconnect=getattr(args, "reconnect", False) or len(servers) > 1,
        tls=bool(getattr(args, "tls", False) or getattr(args, "cafile", None)),
        cafile=getattr(args, "cafile", None),
        history=getattr(args, "history", None),
        resume_grace=getattr(args, "resume_grace", None),
        store=store,
        fsync=getattr(args, "fsync", False),
        servers=servers,
        **cluster,
    )


def _servers(
    parser: argparse.ArgumentParser, args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[tuple[str, int], ...]:
    """``--server`` (each one), else ``TCPCHAT_SERVERS`` for a client; a bad one is exit 2."""
    given = list(getattr(args, "servers", None) or ())
    listed = environ.get("TCPCHAT_SERVERS") if args.command == "client" else None
    try:
        if given:
            return tuple(parse_server(text) for text in given)
        return tuple(parse_servers(listed)) if listed else ()
    except ValueError as exc:
        parser.error(f"--server: {exc}" if given else f"TCPCHAT_SERVERS: {exc}")


def _is_redis(store: str | None) -> bool:
    return bool(store) and str(store).startswith("redis://")


FLOOD_GRACE_IGNORED = (
    "--flood-grace has no effect any more: lines over the rate are held back and "
    "relayed at that rate, never discarded, so there is no flood to disconnect (see "
    "docs/security.md)"
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
    settings = _settings(args.command_parser, args)  # its errors name the command's --help
    if getattr(args, "flood_grace_seconds", None) is not None:
        print(f"tcpchat: {FLOOD_GRACE_IGNORED}", file=sys.stderr, flush=True)
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
        self._store: FileLog | None = None

    def transcript(self) -> TranscriptFile | None:
        """``--log-file``: one transcript file, the same in every mode."""
        if self.settings.log_file and self._transcript is None:
            self._transcript = TranscriptFile(self.settings.log_file, errors=self._errors)
        return self._transcript

    def server(self) -> ChatServer:
        """The server core, logging to the transcript file."""
        settings = self.settings
        options = _server_security(settings)
        if settings.fsync and not settings.store:
            raise ChatError("--fsync goes with --store DIR: give both")
        cluster = self._cluster() if _is_redis(settings.store) else None
        if settings.store and cluster is None:  # a StoreError (a ChatError) is one line, exit 2
            self._store = FileLog(settings.store, fsync=settings.fsync)
            if self._store.recovered:
                print(f"tcpchat: {self._store.recovered}", file=self._errors, flush=True)
        transcript = self.transcript()
        server = ChatServer(
            settings.host,
            settings.port,
            operator_nick=settings.nick or protocol.OPERATOR_NICK,
            max_clients=settings.max_clients,
            max_line_bytes=settings.max_line_bytes,
            history=settings.history,
            resume_grace=settings.resume_grace,
            log=self._store,
            cluster=cluster,
            **options,
        )
        if transcript:
            server.add_observer(transcript)
        return server

    def _cluster(self) -> Cluster:
        """The room on Redis (``--store redis://``), reached before the server is built."""
        settings = self.settings
        assert settings.store is not None
        given: dict[str, Any] = {
            "room": settings.room,
            "max_entries": settings.store_maxlen,
            "lease_seconds": settings.lease,
        }
        store = RedisStore(settings.store, **{k: v for k, v in given.items() if v is not None})
        if store.max_entries < 1 or store.lease_seconds <= 0:
            raise ChatError("--store-maxlen and --lease must be above 0")

        def say(message: str) -> None:
            print(f"tcpchat: {message}", file=self._errors, flush=True)

        history = ChatServer.history if settings.history is None else settings.history
        cluster = Cluster.connect(store, history=history, say=say)
        lines = cluster.mirror.end
        print(f"room {store.room} on {store.url}: {lines} lines so far", flush=True)
        return cluster

    def client_factory(self) -> ClientFactory:
        """What makes each attempt's client: address, TLS, password, transcript file."""
        transcript = self.transcript()
        settings = self.settings
        tls = client_context(settings.cafile) if settings.tls else None

        def new_client(nick: str | None) -> ChatClient:
            if settings.servers:
                client = ChatClient(
                    servers=settings.servers, nick=nick, tls=tls, password=settings.password
                )
            else:
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
        if self._store is not None:
            self._store.close()


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
