"""How long SIGTERM takes with many clients that stopped reading (issue 15, item 5).

    python -m benchmarks.attack_sigterm [--clients 100] [--commands 64]

A real ``python -m tcpchat server --headless`` process is started on
127.0.0.1 (no per-address limit, so all the clients can come from there).
Each client connects with the smallest receive buffer, sends *--commands*
unknown 4,000-byte commands (whose replies fill the kernel's buffers for it,
yet stay well under the 1 MiB budget, so it is not dropped) and never reads:
the server's writer for it is then blocked.  Then the server gets SIGTERM,
and the time until it has exited is printed.

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

from benchmarks.attack_replies import free_port, non_reader, start_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--commands", type=int, default=64, help="sent by each client")
    args = parser.parse_args()
    port = free_port()
    server = start_server(port, "--max-per-address", "0")
    command = b"/" + b"x" * 3999 + b"\n"
    clients = [non_reader(port) for _ in range(args.clients)]
    for sock in clients:
        sock.sendall(command * args.commands)
    time.sleep(2)  # a benchmark: let the server handle them and its writers block
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    code = server.wait(600)
    took = time.monotonic() - started
    print(f"SIGTERM to exit: {took:.1f} s with {args.clients} non-reading clients (exit {code})")
    for sock in clients:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
