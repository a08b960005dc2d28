"""How long SIGTERM takes with many clients that stopped reading (issue 15, item 5).

    python -m benchmarks.attack_sigterm [--clients 100] [--commands 500]

A real ``python -m tcpchat server --headless`` process is started on
127.0.0.1 with no per-address limit (so all the clients can come from there)
and no flood limit.  Each client connects with the smallest receive buffer,
sends *--commands* unknown 4,000-byte commands and never reads.  The replies
(about 2 MB) are more than the kernel buffers for it (on the machine this was
written on), yet what waits in the server stays under the 1 MiB budget, so it
is not dropped (the few that are, are counted out): the server's writer for it
is blocked.
Once the server has handled everything (its CPU time stops growing), it gets
SIGTERM, and the time until it has exited is printed.

Before the fix each such client held the stop for ``linger_seconds`` (2 s),
one after another: 100 clients took over 200 s, past systemd's 90 s stop
timeout.  After it, every goodbye lingers at once under one deadline.  No
pass/fail: a figure for docs/reliability.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from benchmarks.attack_replies import free_port, non_reader, start_server


def cpu_ticks(pid: int) -> int:
    """User and system time of process *pid* so far, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--commands", type=int, default=500, help="sent by each client")
    args = parser.parse_args()
    port = free_port()
    server = start_server(port, "--max-per-address", "0", "--max-lines-per-second", "0")
    command = b"/" + b"x" * 3999 + b"\n"
    clients = [non_reader(port) for _ in range(args.clients)]
    for sock in clients:
        sock.sendall(command * args.commands)
    busy = -1
    while busy != (busy := cpu_ticks(server.pid)):  # until it has handled them all
        time.sleep(1)
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    code = server.wait(600)
    took = time.monotonic() - started
    assert server.stdout is not None
    dropped = sum(b"too slow" in line for line in server.stdout)  # not there at the signal
    stuck = args.clients - dropped
    print(f"SIGTERM to exit: {took:.1f} s with {stuck} non-reading clients (exit {code})")
    for sock in clients:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
