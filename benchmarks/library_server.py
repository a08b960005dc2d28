"""tcpchat as a library: a :class:`ChatServer` with no observer, so no console.

The shipped headless server prints every event (a timestamped line per chat
message, flushed) on its console.  This script serves the same chat without
that, to show what the console costs: ``python -m benchmarks --servers
tcpchat,library``.  Run: ``python -m benchmarks.library_server --host H --port P``.
"""

from __future__ import annotations

import argparse
import signal
import threading

from tcpchat.guard import Limits
from tcpchat.server import ChatServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9123)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _number, _frame: stop.set())
    # Defences off, as for the shipped server in the benchmark (see benchmarks.servers).
    server = ChatServer(args.host, args.port, max_clients=5000, limits=Limits.unlimited())
    server.start()
    print(f"listening on {args.host}:{server.address[1]}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
