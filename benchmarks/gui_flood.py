"""How a window copes with a flood: Tk event-loop lag and lines handled per second.

    python -m benchmarks.gui_flood [--rates 1000,5000,20000,0] [--seconds 5] [--window both]

For each offered rate (lines per second; 0 means as fast as the socket takes
them) a *flooder* process sends chat lines over a raw socket for --seconds:

* ``server`` mode: into a :class:`ServerWindow` running in this process, so
  the server's socket threads, its event thread and Tk share one interpreter,
  as they do in ``tcpchat server``;
* ``client`` mode: into a headless ``tcpchat server`` process, which relays
  them to a :class:`ClientWindow` running here.

Meanwhile a repeating ``after(10 ms)`` tick measures how late Tk gets round to
timers (the lag a user would feel on a click or a key).  Reported: the rate
actually offered; lines *handled* per second during the flood (taken from the
inbox, logged, and drawn unless a waiting backlog would push them straight out
of the transcript) and lines *drawn* per second; how long the backlog took to
drain after the flood; the tick lag's median, 99th percentile and maximum.
There are no pass/fail thresholds: this prints figures for docs/gui.md.

Runs on $DISPLAY, or on a private Xvfb when there is none.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import tkinter as tk
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from scripts.xvfb import start_xvfb
from tcpchat.gui.base import ChatWindow, Status
from tcpchat.gui.client_window import ClientWindow
from tcpchat.gui.server_window import ServerWindow
from tcpchat.gui.transcript import Line
from tcpchat.server import ChatServer

REPO = Path(__file__).resolve().parent.parent
"""The working directory of the child processes (``python -m`` imports from it)."""

TICK_MS = 10
ROOTS: list[tk.Tk] = []
"""Roots are kept to the end: a Tk interpreter freed on another thread aborts Python."""
HOST = "127.0.0.1"
DRAIN_TIMEOUT = 60.0


@dataclass
class Result:
    offered: float
    handled_per_s: float
    drawn_per_s: float
    drain_s: float
    lag_median_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    note: str = ""


def flood(host: str, port: int, rate: float, seconds: float) -> None:
    """The flooder process: send numbered lines at *rate* per second; print how many.

    One thread both sends and reads the server's echoes (and throws them away):
    a peer that stopped reading would be dropped by the server as too slow.
    """
    with socket.create_connection((host, port)) as sock:
        sock.setblocking(False)
        pending = b""
        sent = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(elapsed * rate) + 1 if rate else sent + 100
            if not pending and due > sent:
                pending = b"".join(b"flood %d\n" % n for n in range(sent, due))
                sent = due
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 0.001)
            if readable:
                sock.recv(1 << 20)
            if writable:
                pending = pending[sock.send(pending) :]
        sock.setblocking(True)
        sock.sendall(pending)
        print(sent, flush=True)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(1 << 20):
            pass  # until the server hangs up


class CountingConsole(io.TextIOBase):
    """The window's console: counts the flood lines it handled, and discards them.

    A window logs every line it handles, drawn or not (lines that a waiting
    backlog would push straight out of the transcript are not drawn).
    """

    def __init__(self) -> None:
        self.handled = 0

    def write(self, text: str) -> int:
        self.handled += text.count("] Client: flood ")
        return len(text)


def measure(
    root: tk.Tk,
    window: ChatWindow,
    console: CountingConsole,
    *,
    port: int,
    rate: float,
    seconds: float,
) -> Result:
    drawn = [0]
    add = window.transcript.add

    def counting_add(lines: list[Line]) -> None:
        drawn[0] += sum(1 for line in lines if line.text.startswith("Client: flood "))
        add(lines)

    window.transcript.add = counting_add  # type: ignore[method-assign]
    lags: list[float] = []
    job = [""]

    def tick(expected: float) -> None:
        now = time.perf_counter()
        lags.append(now - expected)
        job[0] = root.after(TICK_MS, tick, now + TICK_MS / 1000)

    flooder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.gui_flood",
            "--flood",
            HOST,
            str(port),
            str(rate),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    job[0] = root.after(TICK_MS, tick, time.perf_counter() + TICK_MS / 1000)
    started = time.perf_counter()
    run_until(root, lambda: flooder.poll() is not None)
    flood_end = time.perf_counter()
    handled_during, drawn_during = console.handled, drawn[0]
    assert flooder.stdout is not None
    sent = int(flooder.stdout.read().strip() or 0)
    drained_all = run_until(
        root,
        lambda: console.handled >= sent or window.status is Status.DISCONNECTED,
        DRAIN_TIMEOUT,
    )
    dropped = window.status is Status.DISCONNECTED
    drained = time.perf_counter() if drained_all and not dropped else float("inf")
    root.after_cancel(job[0])
    lags_ms = sorted(lag * 1000 for lag in lags)
    return Result(
        offered=sent / seconds,
        handled_per_s=handled_during / (flood_end - started),
        drawn_per_s=drawn_during / (flood_end - started),
        drain_s=drained - flood_end,
        lag_median_ms=statistics.median(lags_ms),
        lag_p99_ms=lags_ms[int(len(lags_ms) * 0.99)],
        lag_max_ms=lags_ms[-1],
        note="(the server dropped the window's client: too slow)" if dropped else "",
    )


def run_until(root: tk.Tk, done: Callable[[], bool], timeout: float = 3600.0) -> bool:
    """Run Tk's loop until *done* holds (True) or *timeout* passes (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        root.tk.dooneevent(0)  # the bench's tick timer wakes this at least every 10 ms
    return True


def bench_server_window(rate: float, seconds: float) -> Result:
    root = tk.Tk()
    ROOTS.append(root)
    console = CountingConsole()
    window = ServerWindow(root, ChatServer(HOST, 0), console=console)
    window.start()
    run_until(root, lambda: window.status is Status.LISTENING)
    try:
        return measure(
            root, window, console, port=window.server.address[1], rate=rate, seconds=seconds
        )
    finally:
        window.close()


def bench_client_window(rate: float, seconds: float) -> Result:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tcpchat",
            "server",
            "--headless",
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert server.stdout is not None
    server.stdout.readline()  # "listening on …"
    threading.Thread(target=server.stdout.read, daemon=True).start()
    root = tk.Tk()
    ROOTS.append(root)
    console = CountingConsole()
    window = ClientWindow(root, HOST, port, nick="reader", console=console)
    window.start()
    run_until(root, lambda: window.status is Status.CONNECTED)
    try:
        return measure(root, window, console, port=port, rate=rate, seconds=seconds)
    finally:
        window.close()
        server.terminate()
        server.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def row(name: str, r: Result) -> str:
    drain = f"{r.drain_s:8.2f}" if r.drain_s < DRAIN_TIMEOUT else "       -"
    lags = f"{r.lag_median_ms:>8.1f} ms {r.lag_p99_ms:>6.1f} ms {r.lag_max_ms:>6.1f} ms"
    rates = f"{r.offered:>9.0f} {r.handled_per_s:>9.0f} {r.drawn_per_s:>9.0f}"
    return f"{name:<7} {rates} {drain} {lags} {r.note}".rstrip()


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--flood":
        flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,5000,20000,0", help="lines/s; 0: unpaced")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", choices=["server", "client", "both"], default="both")
    args = parser.parse_args()
    xvfb = None
    if not os.environ.get("DISPLAY"):
        xvfb, os.environ["DISPLAY"] = start_xvfb("1280x800x24")
    print(
        f"# {os.cpu_count()} cores, {platform.processor() or platform.machine()},"
        f" Python {platform.python_version()}, Tk {tk.TkVersion}; console counted, not printed;"
        f" batch_limit={ChatWindow.batch_limit}, tick={TICK_MS} ms, {args.seconds:g} s per rate"
    )
    header = "window  offered/s handled/s   drawn/s  drain s  lag median  lag p99  lag max"
    print(header)
    benches = {"server": bench_server_window, "client": bench_client_window}
    chosen = ["server", "client"] if args.window == "both" else [args.window]
    try:
        for name in chosen:
            for rate in (float(text) for text in args.rates.split(",")):
                print(row(name, benches[name](rate, args.seconds)), flush=True)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
