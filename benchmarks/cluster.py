"""A room on Redis for one benchmark run: its own ``redis-server`` and its tcpchat servers.

Issue 12's benchmark runs the same load on one server with the memory log,
one server on Redis and two servers of one room on Redis, the clients split
between them.  Each run gets a fresh ``redis-server`` (loopback, a free port,
``--save '' --appendonly no``: no disk in the path, as the issue's tests run
it), so the stream starts empty, its CPU time is that run's, and nothing of
one run is in the next.

Where the processes run: Redis and every tcpchat server share the *server*
core, the load generator has the other.  On a two-core machine there is no
third core, and this keeps the comparison fair: Twisted, the memory server
and the Redis room each get one core for everything they do.  So the
two-server figures show what the cluster *costs* on one core (every line
through Redis, every server reading every line), not what it gains on more
machines; docs/performance.md has the model for that.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.servers import ServerKind, ServerProcess, _prepare_child, status

REDIS_HOST = "127.0.0.1"


def missing() -> str | None:
    """Why the Redis kinds cannot run here, or None if they can."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian: apt-get install redis-server)"
    if importlib.util.find_spec("redis") is None:
        return "the redis package is not installed (pip install 'tcpchat[redis]')"
    return None


def free_port(host: str = REDIS_HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` on a free loopback port, without persistence, until :meth:`stop`."""

    def __init__(self, cpu: int | None = None, executable: str = "redis-server") -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="tcpchat-bench-redis-")
        folder = self._folder.name
        self.port = free_port()
        self.url = f"redis://{REDIS_HOST}:{self.port}/0"
        command = [executable, "--bind", REDIS_HOST, "--port", str(self.port), "--save", "",
                   "--appendonly", "no", "--dir", folder, "--logfile", "redis.log"]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            preexec_fn=_prepare_child(cpu),  # noqa: PLW1509 (no threads here)
        )
        deadline = time.monotonic() + 20
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                with socket.create_connection((REDIS_HOST, self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        log = Path(folder, "redis.log")
        text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.stop()
        raise RuntimeError(f"redis-server did not start:\n{text}")

    def _client(self) -> Any:
        redis = importlib.import_module("redis")
        return redis.Redis(REDIS_HOST, self.port, socket_timeout=10)

    def reset_stats(self) -> None:
        """Redis's command counters from zero (``CONFIG RESETSTAT``)."""
        with self._client() as client:
            client.config_resetstat()

    def commands(self) -> dict[str, tuple[int, int]]:
        """Calls and microseconds per command since :meth:`reset_stats` (a script's included)."""
        with self._client() as client:
            stats = client.info("commandstats")
        return {
            name.removeprefix("cmdstat_"): (int(s["calls"]), int(s["usec"]))
            for name, s in stats.items()
        }

    def cpu(self) -> float:
        """CPU seconds Redis has used (``INFO cpu``: to the microsecond, unlike ``/proc``)."""
        with self._client() as client:
            info = client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._folder.cleanup()


class Cluster:
    """*kind.servers* tcpchat servers of one room on a fresh Redis: one per address.

    It reads like a :class:`ServerProcess` to the benchmark: its status and
    usage are the servers' summed (memory, threads and CPU of the whole
    room, Redis apart: see :meth:`figures`).
    """

    def __init__(self, kind: ServerKind, addresses: list[tuple[str, int]], cpu: int | None):
        self.kind = kind
        self.addresses = addresses
        self.redis = RedisServer(cpu)
        self.servers: list[ServerProcess] = []
        try:
            for number, (host, port) in enumerate(addresses, 1):
                # Every server of a room needs an operator nick of its own.
                extra = ["--store", self.redis.url, "--nick", f"Server{number}"]
                server = ServerProcess(kind, host, port, cpu, extra)
                self.servers.append(server)
                if b"on redis://" not in server.console():
                    raise RuntimeError(
                        f"{kind.name}: this tcpchat has no Redis store (issue 12):\n"
                        + server.console().decode(errors="replace")[-1000:]
                    )
        except BaseException:
            self.stop()
            raise

    def status(self) -> dict[str, int]:
        each = [status(server.process.pid) for server in self.servers]
        return {key: sum(s[key] for s in each) for key in ("VmHWM", "VmRSS", "Threads")}

    def usage(self) -> dict[str, float]:
        each = [server.usage() for server in self.servers]
        return {key: sum(u[key] for u in each) for key in ("user", "system", "switches")}

    def begin(self) -> None:
        """The measurement starts: Redis's counters from zero, its CPU time so far."""
        self.redis.reset_stats()
        self._redis_cpu = self.redis.cpu()

    def end(self) -> None:
        """The measurement has ended: Redis's CPU time and commands since :meth:`begin`."""
        self._redis_cpu = self.redis.cpu() - self._redis_cpu
        self._commands = self.redis.commands()

    def figures(self, elapsed: float, lines: int) -> dict[str, float]:
        """What Redis did for *lines* in *elapsed* seconds (between begin and end).

        An entry is one batch shipped (one script run: its ``XADD``); an
        ``XREAD`` is one follower's read of whatever entries are new.  The
        commands' own times leave out reading and writing their sockets,
        which the CPU per entry includes.
        """
        cpu, commands = self._redis_cpu, self._commands
        entries = max(commands.get("xadd", (0, 0))[0], 1)

        def per_call(name: str) -> float:
            calls, usec = commands.get(name, (0, 0))
            return usec / calls if calls else 0.0

        return {
            "redis_cpu": cpu / elapsed if elapsed else 0.0,
            "redis_entries": entries,
            "redis_xreads": commands.get("xread", (0, 0))[0],
            "redis_scripts": commands.get("evalsha", (0, 0))[0],
            "lines_per_entry": lines / entries,
            "redis_cpu_us_per_entry": cpu * 1e6 / entries,
            "redis_script_us": per_call("evalsha"),
            "redis_xread_us": per_call("xread"),
        }

    def start_profile(self, path: Path) -> None:
        """py-spy the first server (the others do the same work)."""
        self.servers[0].start_profile(path)

    def stop_profile(self) -> None:
        self.servers[0].stop_profile()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.redis.stop()
