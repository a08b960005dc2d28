"""Terminal front ends: the headless server and client.

Both print what their core reports and send what is typed on standard input
(the server's operator may also type commands: :mod:`tcpchat.operator`).
Standard input is read on a daemon thread, so the main thread is free to wait
for the one thing that ends the program (a signal, end of input, or a lost
connection) and then shut the core down cleanly.  The command line
(:mod:`tcpchat.cli`) builds the core, the log file and the streams; this module
only runs them.

The client keeps one :class:`~tcpchat.session.Session` across reconnections,
so ``--reconnect`` resumes where the connection dropped: the lines missed
are replayed, nothing is shown twice, and what is typed while disconnected
is printed as ``(pending: will be sent when reconnected) TEXT`` and sent
after the resume (refused with a message past the session's bound).  Lines
of the history a newcomer is shown are printed with a ``| `` prefix, so a
reader (or a script) can tell them from what is said now.
"""

from __future__ import annotations

import threading
import time
from typing import IO, Callable

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError, format_address
from tcpchat.operator import parse_operator_line, run_operator_command
from tcpchat.runtime import Bell, on_stop_signals, retry_delay
from tcpchat.server import ChatServer
from tcpchat.session import Session
from tcpchat.sinks import ConsolePrinter, console_line

HISTORY_MARK = "| "
"""What a history line is printed after (``| Alice: hi``), to tell it from live chat."""


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
    """Serve until SIGINT/SIGTERM or ``/quit`` (exit 0), or until it must stop (exit 1).

    Lines of *stdin* are the operator's chat and commands (``/who``, ``/kick
    NAME``, ``/help``, ``/quit``: :mod:`tcpchat.operator`); a command's replies
    are printed for the operator only, as ``* …`` lines with a timestamp.
    """
    printer = ConsolePrinter(stdout)
    stop = Bell()

    def observe(event: events.Event) -> None:
        if not isinstance(event, events.Listening):
            printer(event)
        if isinstance(event, events.Stopped):  # it stopped itself (see ChatServer.failure)
            stop.ring()

    server.add_observer(observe)

    def operate(line: str) -> None:
        command = parse_operator_line(line)
        if command is None:
            return
        outcome = run_operator_command(server, command)
        for reply in outcome.replies:
            printer.write(console_line(time.time(), f"* {reply.text}"))
        if outcome.quit:
            stop.ring()  # the same way out as Ctrl-C

    on_stop_signals(stop.ring)  # before "listening on": a signal may follow at once
    server.start()
    _read_lines(stdin, operate, lambda: None)  # end of input: keep serving
    # Last, so that a watcher of this line finds the server complete, threads and all.
    printer.write(f"listening on {format_address(*server.address)}")
    stop.wait()
    server.stop()
    return 0 if server.failure is None else 1


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
    :data:`tcpchat.runtime.RETRY_DELAYS`, keeping the nickname, and the return is announced
    (``* reconnected to …``); only end of input, a signal, ``/quit`` or a
    refusal that retrying cannot fix (a wrong password) end the program.
    """
    session = _ClientSession(new_client, nick, reconnect, stdout, stderr)
    on_stop_signals(session.leave)
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
        # The user's only transcript: wait for the terminal rather than drop a line.
        self.printer = ConsolePrinter(stdout, timestamps=False, drop_when_stalled=False)
        self.complain = ConsolePrinter(stderr, timestamps=False)
        self.client: ChatClient | None = None  # where typed lines go
        self.session = Session(nick=nick)  # one across reconnections: resume, not rejoin
        self.connected_before = False  # so the next Connected is a comeback
        self.wake = Bell()  # something happened: look at the fields below
        self.leaving = False  # end of input or a signal
        self.lost = ""  # why the current connection ended
        self.expected = False  # ... because this end asked for it (/quit)
        self.announced = False  # ... because the server said it was shutting down

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
            while not (self.leaving or self.lost or self.expected):
                self.wake.wait()
            self.nick = client.nick or self.nick  # ask for the same name next time
            client.close()
            if self.leaving or self.expected:
                return 0
            if not self.reconnect and self.announced:
                return 0  # a clean stop: the server's own notice has said so, once
            if not self.reconnect or client.refusal:
                self.complain.write(f"tcpchat: connection lost: {self.lost}")
                return 1
            failures = 0 if connected else failures
            delay = retry_delay(failures)
            failures += 1
            what = f"connection lost: {self.lost}" if connected else self.lost
            self.printer.write(f"* {what}; reconnecting in {delay:g} s")
            if self._leaving_within(delay):
                return 0

    def _attempt(self) -> bool:
        """Connect a new client; with reconnect, a failure is a loss like any other."""
        self.client = client = self.new_client(self.nick)
        client.use_session(self.session)
        client.add_observer(self._observe)
        self.lost, self.expected, self.announced = "", False, False
        self.wake.clear()
        try:
            client.connect()
        except ChatError as exc:
            if not self.reconnect:
                raise
            self.lost = str(exc)
            return False
        return True

    def _leaving_within(self, seconds: float) -> bool:
        """Wait up to *seconds* for end of input or a signal; whether it came."""
        deadline = time.monotonic() + seconds
        while not self.leaving:
            left = deadline - time.monotonic()
            if left <= 0 or not self.wake.wait(left):
                break
        return self.leaving

    def send(self, line: str) -> None:
        try:
            if self.client is None:
                raise ChatError("not connected yet; message not sent")
            # stdin waits for the server: backpressure
            client = self.client
            if client.send(line, wait=True):
                return
            if self.client is not client:  # replaced while we held the line: it may be
                self.client.send_held()  # resumed already, and need not wait for the next
            if self.reconnect:  # held by the session until the resume
                self.printer.write(events.transcript_line(events.Pending(line)))
            elif not self.client.connected:
                raise ChatError("connection lost; message not sent")
        except ChatError as exc:
            self.complain.write(f"tcpchat: {exc}")

    def leave(self) -> None:
        """End the session; called from the stdin thread or a signal handler, so a
        plain flag and a :meth:`Bell.ring` (no lock, no ``Event.set()``)."""
        self.leaving = True
        self.wake.ring()

    def _observe(self, event: events.Event) -> None:
        if isinstance(event, events.Connected):
            if self.connected_before:  # said before the welcome can arrive
                self.printer.write(f"* reconnected to {format_address(event.host, event.port)}")
            self.connected_before = True
        elif isinstance(event, (events.Message, events.Notice)):
            if event.history:
                self.printer.write(HISTORY_MARK + events.transcript_line(event))
            else:
                self.printer(event)
        elif isinstance(event, events.Error):
            self.complain(event)
        elif isinstance(event, events.Disconnected):
            self.expected = event.expected
            self.announced = event.announced
            self.lost = event.reason
            self.wake.ring()
