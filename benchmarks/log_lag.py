"""``python -m benchmarks.log_lag``: how far the ``--log-file`` lags the clients under a flood.

A real ``tcpchat server --headless --log-file`` process, flood control off;
``--senders`` clients send as fast as they can for ``--seconds`` while one
more client listens.  Every 5 ms the sampler compares the chat lines the
listener has received with the chat lines in the log file: the difference is
the log's lag, in lines (its maximum is the figure; the bound is
``2 * (EventDispatcher.max_pending + lines of one recv)``).  It also samples
the server's RSS.  At the end the server is killed with SIGKILL mid-flood, and
the lines the listener had received are compared with those in the log.

``--console-stall`` instead leaves the server's standard output on a pipe
nobody reads, floods ``--lines`` lines, and reports the lines in the log file
against the lines delivered, then how long SIGTERM takes to end the server.

Loopback only (127.0.0.1/8); bounded in time; stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _start(host: str, port: int, log: Path, stdout: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tcpchat", "server", "--headless", "--host", host,
               "--port", str(port), "--log-file", str(log), "--max-lines-per-second", "0",
               "--max-per-address", "0"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, env=env)


def _connect(host: str, port: int) -> socket.socket:
    deadline = time.monotonic() + 20
    while True:
        try:
            return socket.create_connection((host, port), timeout=30)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class _Counter:
    """Counts chat lines (``: m``) arriving on a socket, on a thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.count = 0
        threading.Thread(target=self._run, args=(sock,), daemon=True).start()

    def _run(self, sock: socket.socket) -> None:
        with sock.makefile("rb") as lines:
            for line in lines:
                if b": m" in line:
                    self.count += 1


def _logged(log: Path, state: dict[str, int]) -> int:
    """Chat lines in *log* so far (reads only what was added since the last call)."""
    with open(log, "rb") as file:
        file.seek(state.get("offset", 0))
        data = file.read()
    end = data.rfind(b"\n") + 1
    state["offset"] = state.get("offset", 0) + end
    state["count"] = state.get("count", 0) + data[:end].count(b": m")
    return state["count"]


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _flooder(host: str, port: int, stop: threading.Event) -> None:
    sock = _connect(host, port)
    _Counter(sock)  # read the echoes, so the sender is not dropped as too slow
    chunk = b"".join(f"m{i} flood line\n".encode() for i in range(200))
    with sock:
        while not stop.is_set():
            try:
                sock.sendall(chunk)
            except OSError:
                return


def flood(host: str, port: int, senders: int, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "chat.log"
        server = _start(host, port, log, subprocess.DEVNULL)
        listener = _Counter(_connect(host, port))
        stop = threading.Event()
        for _ in range(senders):
            threading.Thread(target=_flooder, args=(host, port, stop), daemon=True).start()
        state: dict[str, int] = {}
        max_lag = 0
        max_rss = 0.0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            received = listener.count  # first: the log can only have caught up since
            max_lag = max(max_lag, received - _logged(log, state))
            max_rss = max(max_rss, _rss_mib(server.pid))
            time.sleep(0.005)
        received = listener.count
        server.send_signal(signal.SIGKILL)
        server.wait()
        stop.set()
        logged = _logged(log, state)
        return {
            "senders": senders,
            "seconds": seconds,
            "received_by_listener": received,
            "in_log_after_sigkill": logged,
            "missing_from_log": max(0, received - logged),
            "max_lag_lines": max_lag,
            "max_rss_mib": round(max_rss, 1),
        }


def console_stall(host: str, port: int, lines: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "chat.log"
        server = _start(host, port, log, subprocess.PIPE)  # never read
        sender = _connect(host, port)
        delivered = _Counter(sender)
        sender.sendall(b"".join(f"m{i}\n".encode() for i in range(lines)))
        state: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            delivered.count < lines or _logged(log, state) < lines
        ):
            time.sleep(0.05)
        logged = _logged(log, state)
        rss = _rss_mib(server.pid)
        began = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            code: int | None = server.wait(30)
        except subprocess.TimeoutExpired:
            code = None
            server.kill()
            server.wait()
        return {
            "lines": lines,
            "delivered": delivered.count,
            "in_log": logged,
            "rss_mib": round(rss, 1),
            "sigterm_seconds": round(time.monotonic() - began, 2),
            "exit_code": code,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9131)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--console-stall", action="store_true")
    parser.add_argument("--lines", type=int, default=5420)
    args = parser.parse_args()
    if not args.host.startswith("127."):
        parser.error("loopback addresses only (127.0.0.0/8)")
    if args.console_stall:
        result = console_stall(args.host, args.port, args.lines)
    else:
        result = flood(args.host, args.port, args.senders, args.seconds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
