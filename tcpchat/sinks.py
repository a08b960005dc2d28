"""Where transcript lines go besides a window: the terminal and the log file.

Both are core observers (``add_observer``): called on a core's thread with
each event, they write its :func:`tcpchat.events.transcript_line`.  Every
timestamp a user sees, on the terminal, in a window or in the log file, is
made here with one clock format (:data:`CLOCK_FORMAT`), so the three can be
read side by side; the log file adds the date in front of it.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import stat
import sys
import threading
import time
from typing import IO

from tcpchat import events
from tcpchat.errors import ChatError, describe

CLOCK_FORMAT = "%H:%M:%S"
"""The time of day on every transcript line (``strftime``, local time)."""
FILE_STAMP_FORMAT = f"%Y-%m-%dT{CLOCK_FORMAT}"
"""The log file's stamp: the date, then the same clock (ISO 8601, local time)."""


def clock(at: float) -> str:
    """*at* (``time.time()``) as the time of day, e.g. ``14:03:59``."""
    return time.strftime(CLOCK_FORMAT, time.localtime(at))


def console_line(at: float, text: str) -> str:
    """A terminal line: ``[14:03:59] text`` (the headless server and the windows' consoles)."""
    return f"[{clock(at)}] {text}"


class ConsolePrinter:
    """An observer that prints each event's transcript line, flushed, and never waits for it.

    A console can stall: a terminal paused with Ctrl-S, or a pipe that its
    reader (a stalled supervisor) stopped reading.  A blocked ``print()`` on
    the event thread would stop the log file behind it, and shutdown behind
    that.  So on a real file descriptor the printer hands lines to a thread of
    its own through a bounded queue (:attr:`max_waiting` lines): the caller
    never waits; when the console stalls and the queue is full, the oldest
    waiting lines are dropped and counted, and once the console takes lines
    again the first thing it shows is ``(console fell behind: N lines not
    shown)``.  The log file is not the console: it loses nothing.  At exit,
    what is still waiting gets at most :attr:`drain_seconds` to be written.

    A stream that cannot stall (``io.StringIO`` in tests, a window's console,
    a regular file) is written to at once, as before.

    That is for a server's console, a view of what the log file keeps.  A
    client's terminal is the user's only transcript, so it is made with
    ``drop_when_stalled=False``: it writes at once and waits for the terminal,
    and a client that stops reading this way holds back its server (which
    drops it once it falls too far behind, and says so to the others).
    """

    max_waiting = 1000
    """Lines waiting for a stalled console before the oldest are dropped."""
    drain_seconds = 1.0
    """At exit (or :meth:`close`), how long waiting lines may take to go out."""

    def __init__(
        self, stream: IO[str], *, timestamps: bool = True, drop_when_stalled: bool = True
    ) -> None:
        self.stream = stream
        self.timestamps = timestamps
        self.dropped = 0
        """Lines dropped so far because the console stalled (for tests and reports)."""
        self._lock = threading.Lock()
        self._fd = _stallable_fd(stream) if drop_when_stalled else None
        self._waiting: collections.deque[str] = collections.deque()
        self._unreported = 0  # dropped and not yet announced on the console
        self._changed = threading.Condition(self._lock)
        self._busy = False  # the thread is writing what it took
        self._thread: threading.Thread | None = None
        if self._fd is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()  # what was printed before goes first
            atexit.register(self.close)

    def __call__(self, event: events.Event) -> None:
        line = events.transcript_line(event)
        self.write(console_line(event.at, line) if self.timestamps else line)

    def write(self, line: str) -> None:
        """Print *line*; never waits for the console (see the class's doc)."""
        if self._fd is None:
            # A terminal that went away must not stop the chat.
            with self._lock, contextlib.suppress(OSError, ValueError):
                print(line, file=self.stream, flush=True)
            return
        with self._changed:
            if len(self._waiting) >= self.max_waiting:
                self._waiting.popleft()
                self.dropped += 1
                self._unreported += 1
            self._waiting.append(line)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tcpchat-console", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def close(self) -> None:
        """Give waiting lines at most :attr:`drain_seconds` to go out (safe to call twice)."""
        if self._fd is None:
            return
        with self._changed:
            self._changed.wait_for(lambda: not (self._waiting or self._busy), self.drain_seconds)

    def _run(self) -> None:
        assert self._fd is not None
        encoding = getattr(self.stream, "encoding", None) or "utf-8"
        while True:
            with self._changed:
                self._busy = False
                self._changed.notify_all()
                self._changed.wait_for(lambda: bool(self._waiting))
                lines = list(self._waiting)
                self._waiting.clear()
                if self._unreported:
                    lines.insert(0, f"(console fell behind: {self._unreported} lines not shown)")
                    self._unreported = 0
                self._busy = True
            data = "".join(line + "\n" for line in lines).encode(encoding, "replace")
            with contextlib.suppress(OSError):  # a console that went away: lines are lost
                view = memoryview(data)
                while view:  # blocks while the console stalls; the callers do not
                    view = view[os.write(self._fd, view) :]


def _stallable_fd(stream: IO[str]) -> int | None:
    """The file descriptor under *stream* if it can stall (a pipe, a terminal, a socket).

    ``None`` for a stream with no descriptor, and for a regular file: a write
    to a file never waits for a reader, so it needs no thread of its own.
    """
    try:
        fd = stream.fileno()
        return None if stat.S_ISREG(os.fstat(fd).st_mode) else fd
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


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
        stamp = time.strftime(FILE_STAMP_FORMAT, time.localtime(event.at))
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
