"""Terminal front ends: the headless server and client.

Both print what their core reports and send what is typed on standard input.
Standard input is read on a daemon thread, so the main thread is free to wait
for the one thing that ends the program (a signal, end of input, or a lost
connection) and then shut the core down cleanly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import IO, Callable

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError, describe, format_address
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
    """An observer that appends every event to a file, one line per ``write()``.

    Nothing written is ever lost to a crash of tcpchat itself:

    * the file is opened with ``O_APPEND``, so every write lands at the end,
      even with two processes logging to one file;
    * each event is one line handed to the operating system with one
      ``write()`` system call, with no buffer in this process; so SIGTERM,
      SIGKILL or a crash of tcpchat lose nothing already written (a power cut
      may lose what the disk had not stored yet: see docs/reliability.md);
    * a last line torn by an earlier crash is ended first, so no new line is
      glued to it;
    * a failing disk is reported once on standard error, and the chat goes on.
    """

    def __init__(self, path: str, *, errors: IO[str] | None = None) -> None:
        self.path = path
        self._errors = errors
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            self._fd = os.open(path, flags, 0o644)
            if os.fstat(self._fd).st_size and not _ends_with_newline(path):
                self._write(b"\n")  # end the line a crash left unfinished
        except OSError as exc:
            raise ChatError(f"cannot open log file {path}: {exc.strerror or exc}") from exc
        self._lock = threading.Lock()
        self._failing = False

    def __call__(self, event: events.Event) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(event.at))
        text = events.transcript_line(event).replace("\r", " ").replace("\n", " ")
        line = f"{stamp} {text}\n".encode("utf-8", "replace")
        with self._lock:
            try:
                self._write(line)
            except OSError as exc:  # disk full, file system gone
                self._report(exc)
            else:
                self._failing = False

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # one call in practice; a disk filling up may take part of a line
            view = view[os.write(self._fd, view) :]

    def _report(self, exc: OSError) -> None:
        if self._failing:
            return  # once per run of failures, not once per line
        self._failing = True
        message = f"tcpchat: cannot write log file {self.path}: {describe(exc)}; lines are lost"
        with contextlib.suppress(OSError, ValueError):
            print(message, file=self._errors or sys.stderr, flush=True)

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)


def _ends_with_newline(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            file.seek(-1, os.SEEK_END)
            return file.read(1) == b"\n"
    except OSError:  # not readable (a write-only file, a device): nothing to mend
        return True


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


SIGNAL_CHECK_SECONDS = 0.25
"""How often a waiting main thread wakes so that a signal's handler can run."""


def wait_for(event: threading.Event, timeout: float | None = None) -> bool:
    """``event.wait(timeout)`` that lets SIGINT/SIGTERM handlers run meanwhile.

    CPython runs signal handlers on the main thread only, when it next runs
    Python code.  If the kernel hands SIGTERM to another thread, a main thread
    blocked in a plain ``wait()`` never wakes to run the handler and the
    process ignores the signal; so the main thread waits in short slices.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = SIGNAL_CHECK_SECONDS if deadline is None else deadline - time.monotonic()
        if event.wait(min(left, SIGNAL_CHECK_SECONDS)) or left <= 0:
            return event.is_set()


def run_server(server: ChatServer, *, stdin: IO[str], stdout: IO[str]) -> int:
    """Serve until SIGINT/SIGTERM; stdin lines are the operator's chat."""
    printer = ConsolePrinter(stdout)
    server.add_observer(
        lambda event: None if isinstance(event, events.Listening) else printer(event)
    )
    stop = threading.Event()
    _on_stop_signals(stop.set)  # before "listening on": a signal may follow at once
    server.start()
    _read_lines(stdin, server.say, lambda: None)  # end of input: keep serving
    # Last, so that a watcher of this line finds the server complete, threads and all.
    printer.write(f"listening on {format_address(*server.address)}")
    wait_for(stop)
    server.stop()
    return 0


RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds before each reconnection attempt, as in the client window; the last repeats."""


def run_client(
    new_client: Callable[[str | None], ChatClient],
    *,
    nick: str | None = None,
    reconnect: bool = False,
    stdin: IO[str],
    stdout: IO[str],
    stderr: IO[str],
) -> int:
    """Chat until end of input (exit 0) or until the server is lost (exit 1).

    *new_client* makes a client asking for a nickname (a :class:`ChatClient`
    connects only once, so each attempt gets a new one).  With *reconnect*, a
    lost or unreachable server is tried again after each of
    :data:`RETRY_DELAYS`, keeping the nickname, and the return is announced
    (``* reconnected to …``); only end of input, a signal, ``/quit`` or a
    refusal that retrying cannot fix (a wrong password) end the program.
    """
    session = _ClientSession(new_client, nick, reconnect, stdout, stderr)
    _on_stop_signals(session.leave)
    return session.run(stdin)


class _ClientSession:
    """The headless client across reconnections: one :class:`ChatClient` at a time."""

    def __init__(
        self,
        new_client: Callable[[str | None], ChatClient],
        nick: str | None,
        reconnect: bool,
        stdout: IO[str],
        stderr: IO[str],
    ) -> None:
        self.new_client = new_client
        self.nick = nick
        self.reconnect = reconnect
        self.printer = ConsolePrinter(stdout, timestamps=False)
        self.complain = ConsolePrinter(stderr, timestamps=False)
        self.client: ChatClient | None = None  # where typed lines go
        self.connected_before = False  # so the next Connected is a comeback
        self.wake = threading.Event()  # something happened: look at the fields below
        self.leaving = threading.Event()  # end of input or a signal
        self.lost = ""  # why the current connection ended
        self.expected = False  # ... because this end asked for it (/quit)

    def run(self, stdin: IO[str]) -> int:
        failures = 0
        reading = False
        while True:
            connected = self._attempt()
            client = self.client
            assert client is not None
            if not reading:  # after the first attempt, so typing waits for the welcome
                _read_lines(stdin, self.send, self.leave)
                reading = True
            while not (self.leaving.is_set() or self.lost or self.expected):
                wait_for(self.wake)
                self.wake.clear()
            self.nick = client.nick or self.nick  # ask for the same name next time
            client.close()
            if self.leaving.is_set() or self.expected:
                return 0
            if not self.reconnect or client.refusal:
                self.complain.write(f"tcpchat: connection lost: {self.lost}")
                return 1
            failures = 0 if connected else failures
            delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
            failures += 1
            what = f"connection lost: {self.lost}" if connected else self.lost
            self.printer.write(f"* {what}; reconnecting in {delay:g} s")
            if wait_for(self.leaving, delay):
                return 0

    def _attempt(self) -> bool:
        """Connect a new client; with reconnect, a failure is a loss like any other."""
        self.client = client = self.new_client(self.nick)
        client.add_observer(self._observe)
        self.lost, self.expected = "", False
        self.wake.clear()
        try:
            client.connect()
        except ChatError as exc:
            if not self.reconnect:
                raise
            self.lost = str(exc)
            return False
        return True

    def send(self, line: str) -> None:
        try:
            if self.client is None:
                raise ChatError("not connected yet; message not sent")
            self.client.send(line)
        except ChatError as exc:
            self.complain.write(f"tcpchat: {exc}")

    def leave(self) -> None:
        self.leaving.set()
        self.wake.set()

    def _observe(self, event: events.Event) -> None:
        if isinstance(event, events.Connected):
            if self.connected_before:  # said before the welcome can arrive
                self.printer.write(f"* reconnected to {format_address(event.host, event.port)}")
            self.connected_before = True
        elif isinstance(event, (events.Message, events.Notice)):
            self.printer(event)
        elif isinstance(event, events.Error):
            self.complain(event)
        elif isinstance(event, events.Disconnected):
            self.expected = event.expected
            self.lost = event.reason
            self.wake.set()


def default_streams() -> tuple[IO[str], IO[str], IO[str]]:
    """stdin, stdout and stderr, set never to fail on characters they lack."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    return sys.stdin, sys.stdout, sys.stderr
