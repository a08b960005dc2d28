"""Terminal front ends: the headless server and client.

Both print what their core reports and send what is typed on standard input.
Standard input is read on a daemon thread, so the main thread is free to wait
for the one thing that ends the program (a signal, end of input, or a lost
connection) and then shut the core down cleanly.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from typing import IO, Callable

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError, format_address
from tcpchat.server import ChatServer


class ConsolePrinter:
    """An observer that prints each event's transcript line, flushed."""

    def __init__(self, stream: IO[str], *, timestamps: bool = True) -> None:
        self.stream = stream
        self.timestamps = timestamps
        self._lock = threading.Lock()

    def __call__(self, event: events.Event) -> None:
        line = events.transcript_line(event)
        if self.timestamps:
            line = f"[{time.strftime('%H:%M:%S', time.localtime(event.at))}] {line}"
        self.write(line)

    def write(self, line: str) -> None:
        # A terminal that went away must not stop the chat.
        with self._lock, contextlib.suppress(OSError, ValueError):
            print(line, file=self.stream, flush=True)


class TranscriptFile:
    """An observer that appends every event to a file, one flushed line each."""

    def __init__(self, path: str) -> None:
        try:
            # Kept open for the whole session: appended to and flushed line by line.
            self._file = open(path, "a", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115
        except OSError as exc:
            raise ChatError(f"cannot open log file {path}: {exc.strerror or exc}") from exc
        self._lock = threading.Lock()

    def __call__(self, event: events.Event) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(event.at))
        with self._lock:
            self._file.write(f"{stamp} {events.transcript_line(event)}\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _on_stop_signals(handler: Callable[[], None]) -> None:
    """Run *handler* on SIGINT and SIGTERM (main thread only)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda _signum, _frame: handler())


def _read_lines(
    stream: IO[str], on_line: Callable[[str], None], on_eof: Callable[[], None]
) -> None:
    """Call *on_line* for each line of *stream* on a daemon thread, then *on_eof*."""

    def loop() -> None:
        try:
            for line in stream:
                on_line(line.rstrip("\n"))
        except (OSError, ValueError):
            pass  # standard input closed under us: same as end of input
        on_eof()

    threading.Thread(target=loop, name="tcpchat-stdin", daemon=True).start()


def run_server(server: ChatServer, *, stdin: IO[str], stdout: IO[str]) -> int:
    """Serve until SIGINT/SIGTERM; stdin lines are the operator's chat."""
    printer = ConsolePrinter(stdout)
    server.add_observer(
        lambda event: None if isinstance(event, events.Listening) else printer(event)
    )
    stop = threading.Event()
    _on_stop_signals(stop.set)  # before "listening on": a signal may follow at once
    server.start()
    printer.write(f"listening on {format_address(*server.address)}")
    _read_lines(stdin, server.say, lambda: None)  # end of input: keep serving
    stop.wait()
    server.stop()
    return 0


def run_client(client: ChatClient, *, stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> int:
    """Chat until end of input (exit 0) or until the server is lost (exit 1)."""
    done = threading.Event()
    lost: list[str] = []
    printer = ConsolePrinter(stdout, timestamps=False)

    def observe(event: events.Event) -> None:
        if isinstance(event, (events.Message, events.Notice)):
            printer(event)
        elif isinstance(event, events.Error):
            ConsolePrinter(stderr, timestamps=False)(event)
        elif isinstance(event, events.Disconnected):
            if not event.expected:
                lost.append(event.reason)
            done.set()

    def send(line: str) -> None:
        try:
            client.send(line)
        except ChatError as exc:
            print(f"tcpchat: {exc}", file=stderr, flush=True)

    client.add_observer(observe)
    _on_stop_signals(done.set)
    client.connect()
    _read_lines(stdin, send, done.set)
    done.wait()
    client.close()
    if lost:
        print(f"tcpchat: connection lost: {lost[0]}", file=stderr, flush=True)
        return 1
    return 0


def default_streams() -> tuple[IO[str], IO[str], IO[str]]:
    """stdin, stdout and stderr, set never to fail on characters they lack."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    return sys.stdin, sys.stdout, sys.stderr
