"""Replies that nobody reads: the server's memory under the issue-15 item-1 attack.

    python -m benchmarks.attack_replies [--seconds 60] [--connections 32] [--rate 9]

A real ``python -m tcpchat server --headless`` process is started on
127.0.0.1 with its default limits.  Then *--connections* clients connect from
127.0.0.1 (32 is the default per-address limit), with the smallest receive
buffer, and never read.  Each sends an unknown command of *--bytes* bytes
*--rate* times a second (under the flood limit of 10 lines a second); each
reply echoes the command's name, so the server queues about as much for each
client as it receives from it.  Every second the server's resident memory
(``VmRSS`` from ``/proc``) and the clients it still serves are printed.

Before the fix the replies were queued without limit: once the kernel's
buffers were full (about a minute) RSS grew by about 1.3 MiB a second and
nobody was dropped.  After it, a client is dropped once what waits for it
passes ``max_backlog_bytes`` (1 MiB), so RSS peaks near 32 x 1 MiB above
the start.  No pass/fail: figures for docs/reliability.md.
Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start_server(port: int, *extra: str) -> subprocess.Popen[bytes]:
    """A headless tcpchat server on 127.0.0.1:*port*, once it listens.

    It runs the tcpchat found first on ``PYTHONPATH`` (this checkout's without
    one), from that folder, since ``python -m`` looks in the current folder first.
    """
    root = os.environ.get("PYTHONPATH", str(ROOT)).split(os.pathsep)[0]
    env = {**os.environ, "PYTHONPATH": root}
    command = [sys.executable, "-m", "tcpchat", "server", "--headless"]
    command += ["--host", "127.0.0.1", "--port", str(port), *extra]
    server = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    assert server.stdout is not None
    for line in server.stdout:
        if b"listening on" in line:
            break
    else:
        raise SystemExit(f"the server did not start: exit code {server.wait()}")
    return server


def drain(server: subprocess.Popen[bytes]) -> list[str]:
    """Read the server's output on a thread (a full pipe would stall it); the lines so far."""
    lines: list[str] = []
    assert server.stdout is not None
    stdout = server.stdout

    def pump() -> None:
        for line in stdout:
            lines.append(line.decode(errors="replace").rstrip())

    threading.Thread(target=pump, daemon=True).start()
    return lines


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def non_reader(port: int) -> socket.socket:
    """A client with the smallest receive buffer, which never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(5)
    return sock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=9, help="commands a second per client")
    parser.add_argument("--bytes", type=int, default=4000, help="size of one command")
    args = parser.parse_args()
    port = free_port()
    server = start_server(port)
    output = drain(server)
    command = b"/" + b"x" * (args.bytes - 1) + b"\n"
    try:
        clients = [non_reader(port) for _ in range(args.connections)]
        open_ = set(range(len(clients)))
        start = time.monotonic()
        rss = [rss_mib(server.pid)]
        print(f"{'s':>4} {'RSS MiB':>8} {'served':>6}")
        print(f"{0:4d} {rss[0]:8.1f} {len(open_):6d}")
        tick, second = 0, 0
        while (now := time.monotonic() - start) < args.seconds:
            for index in list(open_):
                try:
                    clients[index].sendall(command)
                except OSError:  # dropped by the server
                    open_.discard(index)
            tick += 1
            time.sleep(max(0.0, tick / args.rate - (time.monotonic() - start)))
            if int(now) > second:
                second = int(now)
                rss.append(rss_mib(server.pid))
                print(f"{second:4d} {rss[-1]:8.1f} {len(open_):6d}", flush=True)
        print(
            f"RSS {rss[0]:.1f} MiB at the start, {max(rss):.1f} at most, {rss[-1]:.1f} at the "
            f"end; {args.connections - len(open_)} of {args.connections} clients dropped"
        )
        reasons = {line.split("(", 1)[-1] for line in output if " left " in line}
        print("why they left:", ", ".join(sorted(reasons)) or "nobody left")
        for sock in clients:
            sock.close()
    finally:
        server.terminate()
        server.wait(120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
