"""The servers under test, each a real process pinned to its own core.

Both are started the way a user would start them: tcpchat as shipped
(``python -m tcpchat server --headless``, which prints every event to its
console; here the console is a file), Twisted as the script in
:mod:`benchmarks.twisted_chat`.  A fresh process serves each run, so its peak
RSS (``VmHWM``) belongs to that run alone.

The Redis kinds (issue 12) are the same tcpchat with ``--store redis://``,
one or two servers of one room; :mod:`benchmarks.cluster` starts them with
their own ``redis-server``.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServerKind:
    name: str
    command: Callable[[str, int], list[str]]
    root: Path = REPO_ROOT
    """Where to run it from (another checkout of tcpchat, to compare versions)."""
    servers: int = 1
    """How many servers share the room (more than one only with *redis*)."""
    redis: bool = False
    """The room's log on a fresh ``redis-server`` (see :mod:`benchmarks.cluster`)."""


def _tcpchat(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "tcpchat", "server", "--headless", "--host", host,
            "--port", str(port), "--max-clients", "5000"]  # fmt: skip


def _tcpchat_unlimited(host: str, port: int) -> list[str]:
    """This checkout's tcpchat, with its defences off (see below)."""
    return _tcpchat(host, port) + UNLIMITED_FLAGS


UNLIMITED_FLAGS = ["--max-lines-per-second", "0", "--max-per-address", "0",
                   "--line-timeout", "0", "--idle-timeout", "0"]  # fmt: skip
"""Flood control, connections per address and idle deadlines off: the load is a
flood from one address by design, and the benchmark measures raw throughput."""


def _tcpchat_store(host: str, port: int) -> list[str]:
    """The same, with the room's log written ahead to a fresh ``--store`` directory."""
    store = tempfile.mkdtemp(prefix="store-", dir=_scratch().name)
    return [*_tcpchat_unlimited(host, port), "--store", store]


def _tcpchat_fsync(host: str, port: int) -> list[str]:
    """The same again, each batch also fsync'd before anyone is sent it."""
    return [*_tcpchat_store(host, port), "--fsync"]


_scratch_dir: list[tempfile.TemporaryDirectory[str]] = []


def _scratch() -> tempfile.TemporaryDirectory[str]:
    """One folder for every store of this run, removed when the run ends."""
    if not _scratch_dir:
        _scratch_dir.append(tempfile.TemporaryDirectory(prefix="tcpchat-bench-"))
    return _scratch_dir[0]


def _twisted(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.twisted_chat", "--host", host, "--port", str(port)]


def _library(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.library_server", "--host", host, "--port", str(port)]


TCPCHAT = ServerKind("tcpchat", _tcpchat_unlimited)
STORE = ServerKind("store", _tcpchat_store)
"""tcpchat with ``--store``: what the durable log costs (compare with ``tcpchat``)."""
FSYNC = ServerKind("fsync", _tcpchat_fsync)
"""tcpchat with ``--store --fsync``."""
TWISTED = ServerKind("twisted", _twisted)
LIBRARY = ServerKind("library", _library)
"""tcpchat's ChatServer without the console (see :mod:`benchmarks.library_server`)."""
REDIS = ServerKind("redis", _tcpchat_unlimited, redis=True)
"""tcpchat with ``--store redis://``: one server, the room's log on Redis."""
REDIS2 = ServerKind("redis2", _tcpchat_unlimited, servers=2, redis=True)
"""Two tcpchat servers of one room on Redis, the clients split between them."""


def tcpchat_from(root: Path, name: str) -> ServerKind:
    """tcpchat as found in *root*, e.g. a ``git worktree`` of an older commit."""
    return ServerKind(name, _tcpchat, root.resolve())


def _prepare_child(cpu: int | None) -> Callable[[], None]:
    def prepare() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    return prepare


class ServerProcess:
    """One running server: start it, read its CPU, RSS and threads, stop it."""

    def __init__(
        self, kind: ServerKind, host: str, port: int, cpu: int | None, extra: Sequence[str] = ()
    ) -> None:
        """*extra*: more options for its command line (a Redis store, an operator nick)."""
        self.kind = kind
        self.address = (host, port)
        self.addresses = [self.address]
        self._console: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop)
        env = dict(os.environ, PYTHONPATH=str(kind.root))
        self.process = subprocess.Popen(
            [*kind.command(host, port), *extra],
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            cwd=kind.root,
            env=env,
            preexec_fn=_prepare_child(cpu),  # noqa: PLW1509 (no threads here)
        )
        self._profiler: subprocess.Popen[bytes] | None = None
        self._wait_listening()

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"listening on" in self.console():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.kind.name} did not start:\n{self.console().decode()[-2000:]}")

    def console(self) -> bytes:
        self._console.seek(0)
        return self._console.read()

    def status(self) -> dict[str, int]:
        """``VmHWM``/``VmRSS`` (KiB) and ``Threads`` from ``/proc/PID/status``."""
        return status(self.process.pid)

    def usage(self) -> dict[str, float]:
        """CPU seconds (user, system) and context switches (all threads) so far."""
        return usage(self.process.pid)

    def start_profile(self, path: Path) -> None:
        """Sample the server with py-spy (threads on a CPU) into collapsed stacks at *path*."""
        command = ["py-spy", "record", "--pid", str(self.process.pid), "--rate", "1000",
                   "--nonblocking", "--format", "raw", "--output", str(path)]  # fmt: skip
        self._profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        time.sleep(0.5)  # let it attach

    def stop_profile(self) -> None:
        if self._profiler is not None:
            self._profiler.send_signal(signal.SIGINT)
            self._profiler.wait(30)
            self._profiler = None

    def stop(self) -> None:
        self.stop_profile()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._console.close()


def status(pid: int) -> dict[str, int]:
    """``VmHWM``/``VmRSS`` (KiB) and ``Threads`` of process *pid*, from ``/proc``."""
    text = Path(f"/proc/{pid}/status").read_text()
    fields = dict(re.findall(r"^(\w+):\s+(\d+)", text, re.MULTILINE))
    return {key: int(fields.get(key, 0)) for key in ("VmHWM", "VmRSS", "Threads")}


def usage(pid: int) -> dict[str, float]:
    """CPU seconds (user, system) and context switches (all threads) of *pid* so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        switches += sum(int(n) for n in re.findall(r"ctxt_switches:\s+(\d+)", text))
    return {"user": int(fields[11]) / tick, "system": int(fields[12]) / tick,
            "switches": switches}  # fmt: skip
