"""End-to-end harness: real tcpchat processes and raw socket peers on loopback.

A small library meant to be copied.  It has three parts:

* :func:`loopback_address` gives each test its own ``127.x.y.z``, so every test
  can use the real port 9000 and ``pytest -n auto`` (even several runs at
  once, as ``tox -p`` does) never sees two servers on one address.
* :class:`ChatProcess` starts ``python -m tcpchat …`` as a real process,
  collects its stdout and stderr on threads, and lets a test *wait for* a
  line instead of sleeping.
* :class:`RawPeer` is a plain socket speaking the line protocol, the way
  ``nc`` would, with the same waiting helpers.

Every wait takes a timeout and fails with what was seen so far, so a broken
test says why.  The fixtures that wire these into pytest (and attach the
processes' output to a failing test's report) live in ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_ROOT = Path(os.environ.get("TCPCHAT_ARTIFACTS", REPO_ROOT / "artifacts"))
PORT = 9000
DEFAULT_TIMEOUT = 15.0

_addresses = itertools.count()


def _run_octet() -> int:
    """Second octet: one per test run, so concurrent runs rarely meet."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
    return 20 + hashlib.sha256(run_id.encode()).digest()[0] % 200


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def loopback_address(port: int = PORT) -> str:
    """A ``127.RUN.WORKER.N`` address where *port* is free, unique to the caller."""
    run, worker = _run_octet(), _worker_index()
    for _ in range(250):
        number = next(_addresses) % 250 + 2
        host = f"127.{run}.{worker}.{number}"
        if _port_free(host, port):
            return host
    raise RuntimeError(f"no free loopback address with port {port} in 127.{run}.{worker}.0/24")


def wait_until(
    condition: threading.Condition,
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    seen: Callable[[], str],
) -> None:
    """Wait (on *condition*) until *predicate* holds, or fail saying what was *seen*."""
    with condition:
        if not condition.wait_for(predicate, timeout):
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{seen()}")


class _LineCollector:
    """Collects the lines a stream produces, on a thread, and lets tests wait."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.closed = False
        self.changed = threading.Condition()

    def pump(self, read_line: Callable[[], bytes]) -> None:
        try:
            while line := read_line():
                with self.changed:
                    self.lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
                    self.changed.notify_all()
        except (OSError, ValueError):
            pass  # the stream was closed under us: that is its end
        finally:
            with self.changed:
                self.closed = True
                self.changed.notify_all()

    def start(self, read_line: Callable[[], bytes]) -> threading.Thread:
        thread = threading.Thread(target=self.pump, args=(read_line,), daemon=True)
        thread.start()
        return thread

    def text(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> tuple[int, re.Match[str]]:
        """First line from index *start* on matching *pattern*: (index, match)."""
        regex = re.compile(pattern)
        found: list[tuple[int, re.Match[str]]] = []

        def matched() -> bool:
            for index in range(start, len(self.lines)):
                match = regex.search(self.lines[index])
                if match:
                    found.append((index, match))
                    return True
            return self.closed

        wait_until(self.changed, matched, timeout, f"{pattern!r} on {self.name}", self._tail)
        if not found:
            raise AssertionError(f"{self.name} ended before {pattern!r}\n{self._tail()}")
        return found[0]

    def wait_for_count(self, count: int, timeout: float) -> None:
        wait_until(
            self.changed,
            lambda: len(self.lines) >= count or self.closed,
            timeout,
            f"{count} lines on {self.name}",
            self._tail,
        )

    def wait_for_chat(self, count: int, timeout: float) -> list[str]:
        """Wait for *count* chat lines (notices, ``* …``, and history, ``| …``, left out)."""

        def chat() -> list[str]:
            return [line for line in self.lines if not line.startswith(("* ", "| "))]

        wait_until(
            self.changed, lambda: len(chat()) >= count, timeout, f"{count} chat lines", self._tail
        )
        with self.changed:
            return chat()

    def _tail(self) -> str:
        shown = [line if len(line) < 120 else line[:120] + "…" for line in self.lines[-20:]]
        return f"last lines of {self.name}:\n" + "\n".join(shown)


class ChatProcess:
    """A real ``python -m tcpchat ARGS…`` process with its output collected."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        name: str = "tcpchat",
        command: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.args = list(command or [sys.executable, "-m", "tcpchat", *args])
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
        full_env.update(env or {})
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=tempfile.gettempdir(),  # import the installed tcpchat, not the checkout
            start_new_session=True,  # a signal to the test run does not reach it
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.out = _LineCollector(f"{name} stdout")
        self.err = _LineCollector(f"{name} stderr")
        self._pumps = [
            self.out.start(self.process.stdout.readline),
            self.err.start(self.process.stderr.readline),
        ]
        self._cursor = 0

    @property
    def stdout(self) -> str:
        return self.out.text()

    @property
    def stderr(self) -> str:
        return self.err.text()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for_output(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match[str]:
        """Wait for a stdout line matching *pattern* after the previous match."""
        index, match = self.out.wait_for(pattern, timeout, self._cursor)
        self._cursor = index + 1
        return match

    def wait_for_error(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match[str]:
        """Wait for a stderr line matching *pattern*."""
        return self.err.wait_for(pattern, timeout)[1]

    def send_line(self, text: str) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(text.encode() + b"\n")
        stdin.flush()

    def close_stdin(self) -> None:
        stdin: IO[bytes] | None = self.process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()

    def signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(number)

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait for exit; the exit code.  Output is complete once this returns."""
        code = self.process.wait(timeout)
        for pump in self._pumps:
            pump.join(timeout)
        return code

    def stop(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL if it does not go; the exit code."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
        self.close_stdin()
        return self.wait(timeout)

    def report(self) -> str:
        """Command, exit code and all output, for a failing test's report."""
        code = self.process.poll()
        return (
            f"$ {' '.join(self.args)}\n(exit code: {code})\n"
            f"--- stdout ---\n{_tail(self.out.lines)}\n--- stderr ---\n{_tail(self.err.lines)}\n"
        )


def run_concurrently(*jobs: Callable[[], None]) -> None:
    """Run *jobs* on threads at the same time and wait for all of them."""
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def assert_one_total_order(transcripts: list[list[str]], per_sender: dict[str, list[str]]) -> None:
    """Everyone saw the same lines in the same order, each sender's in its own order."""
    first = transcripts[0]
    for number, other in enumerate(transcripts[1:], 1):
        assert other == first, f"transcript {number} differs from transcript 0"
    for nick, texts in per_sender.items():
        sent = [line for line in first if line.startswith(f"{nick}: ")]
        assert sent == [f"{nick}: {text}" for text in texts], f"{nick}'s lines lost or reordered"


def _tail(lines: list[str], count: int = 200) -> str:
    """The last *count* lines, each cut short, for reports that stay readable."""
    shown = [line if len(line) < 300 else line[:300] + "…" for line in lines[-count:]]
    skipped = f"[{len(lines) - count} earlier lines not shown]\n" if len(lines) > count else ""
    return skipped + "\n".join(shown)


def start_server(host: str, port: int = PORT, *extra: str, **kwargs: object) -> ChatProcess:
    """A headless server on *host*:*port*, returned once it is listening."""
    server = ChatProcess(
        ["server", "--headless", "--host", host, "--port", str(port), *extra],
        name="server",
        **kwargs,  # type: ignore[arg-type]
    )
    server.wait_for_output(r"^listening on ")
    return server


class RawPeer:
    """A raw socket speaking the line protocol by hand, like ``nc`` would."""

    def __init__(self, host: str, port: int = PORT, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.settimeout(None)
        self._received = b""
        self._cursor = 0
        self.inbox = _LineCollector(f"peer {host}:{port}")
        self._reader = self.inbox.start(self._next_line)

    def _next_line(self) -> bytes:
        """The next line, newline included (b"" at the end), straight from recv()."""
        while b"\n" not in self._received:
            data = self.sock.recv(65536)
            if not data:
                line, self._received = self._received, b""
                return line
            self._received += data
        line, _, self._received = self._received.partition(b"\n")
        return line + b"\n"

    @property
    def lines(self) -> list[str]:
        with self.inbox.changed:
            return list(self.inbox.lines)

    def send_line(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\n")

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def expect_line(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The next received line matching *pattern* (lines before it are skipped)."""
        index, match = self.inbox.wait_for(pattern, timeout, self._cursor)
        self._cursor = index + 1
        return match.string

    def wait_for_lines(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        self.inbox.wait_for_count(count, timeout)
        return self.lines

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the server hangs up."""
        wait_until(
            self.inbox.changed,
            lambda: self.inbox.closed,
            timeout,
            "the server to close the connection",
            self.inbox.text,
        )

    def reset(self) -> None:
        """Close with a TCP reset (RST), as a crashed peer's kernel would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Wake our reader first: the kernel only resets once no recv() holds the socket.
        self.sock.shutdown(socket.SHUT_RD)
        self._reader.join(DEFAULT_TIMEOUT)
        self.sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(DEFAULT_TIMEOUT)


def joined_peer(address: tuple[str, int]) -> RawPeer:
    """A :class:`RawPeer` that the server has welcomed into the room."""
    peer = RawPeer(*address)
    peer.expect_line(r"^\* welcome, you are ")
    return peer


def no_traceback(*outputs: str) -> bool:
    """True if none of *outputs* holds a Python traceback."""
    return not any("Traceback (most recent call last)" in output for output in outputs)
