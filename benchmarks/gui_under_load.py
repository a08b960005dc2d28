"""Does a client window stay responsive while the server carries benchmark scenario b?

    python -m benchmarks.gui_under_load [--repeats 5] [--idle-seconds 3]

A headless ``tcpchat server`` process (limits off, as in ``python -m benchmarks``)
listens on a private loopback address.  One :class:`ClientWindow` runs in this
process, connected to it, while a repeating ``after(10 ms)`` tick measures how
late Tk runs timers (the measuring loop is :mod:`benchmarks.gui_flood`'s).  First the
window sits idle for a baseline; then, for each repeat, a child process runs
the load generator's scenario b (100 clients, 10 senders x 1,000 lines, 32 in
flight each) against the same server.  The window is one more listener: it
receives every broadcast line, 10,000 per run, so the run is a flood for it too.

Per phase: tick lag median, p99 and max; lines the window handled (logged) and
drew per second.  For a load run the phase lasts from the load generator's
start until the window has handled all 10,000 lines (or a timeout), and the
load generator's own elapsed time and deliveries/s are shown beside it.  A run
lasts well under a second (about 40 ticks), so the last row, "b all", gives the
medians of the runs' times and rates and the tick lags of all runs pooled.
Only loopback traffic; every wait is bounded.  No pass/fail thresholds.

Runs on $DISPLAY, or on a private Xvfb when there is none.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import tkinter as tk
from dataclasses import dataclass
from pathlib import Path

from benchmarks.__main__ import SCENARIOS
from benchmarks.gui_flood import REPO, ROOTS, TICK_MS, run_until
from benchmarks.loadgen import LoadGenerator
from benchmarks.servers import TCPCHAT, ServerProcess
from scripts.xvfb import start_xvfb
from tcpchat.gui.base import ChatWindow, Status
from tcpchat.gui.client_window import ClientWindow
from tcpchat.gui.transcript import Line

HOSTS = [f"127.88.0.{n}" for n in range(1, 21)]
PORT = 9188
SCENARIO = SCENARIOS["b"]
MARK = "~" + "x" * 8
"""In every load-generator message (its padding), in nothing else."""
LOAD_TIMEOUT = 120.0
DRAIN_TIMEOUT = 60.0


@dataclass
class Phase:
    name: str
    seconds: float
    handled_per_s: float
    drawn_per_s: float
    lag_median_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    load_s: float = 0.0
    deliveries_per_s: float = 0.0
    drain_s: float = 0.0
    note: str = ""
    span: tuple[float, float] = (0.0, 0.0)
    """When the phase began and ended (perf_counter), to pool the ticks of all runs."""


class CountingConsole(io.TextIOBase):
    """The window's console: counts the load's lines it handled, discards the text."""

    def __init__(self) -> None:
        self.handled = 0

    def write(self, text: str) -> int:
        self.handled += text.count(MARK)
        return len(text)


class Meter:
    """The tick (lag samples) and a count of the load's lines the transcript draws."""

    def __init__(self, root: tk.Tk, window: ChatWindow) -> None:
        self.root = root
        self.lags: list[tuple[float, float]] = []  # (when, lag in seconds)
        self.drawn = 0
        add = window.transcript.add

        def counting_add(lines: list[Line]) -> None:
            self.drawn += sum(1 for line in lines if MARK in line.text)
            add(lines)

        window.transcript.add = counting_add  # type: ignore[method-assign]
        self.job = root.after(TICK_MS, self._tick, time.perf_counter() + TICK_MS / 1000)

    def _tick(self, expected: float) -> None:
        now = time.perf_counter()
        self.lags.append((now, now - expected))
        self.job = self.root.after(TICK_MS, self._tick, now + TICK_MS / 1000)

    def lag_ms(self, *spans: tuple[float, float]) -> tuple[float, float, float]:
        lags = sorted(
            lag * 1000 for when, lag in self.lags if any(a <= when <= b for a, b in spans)
        )
        if not lags:
            return float("nan"), float("nan"), float("nan")
        return statistics.median(lags), lags[int(len(lags) * 0.99)], lags[-1]

    def stop(self) -> None:
        self.root.after_cancel(self.job)


def loadgen_child(host: str, port: int) -> int:
    """The load process: scenario b once; prints ``start``, ``stop``, then a JSON result."""
    generator = LoadGenerator((host, port), SCENARIO, LOAD_TIMEOUT)
    try:
        result = generator.run(
            on_start=lambda: print("start", flush=True),
            on_stop=lambda: print("stop", flush=True),
        )
    finally:
        generator.close()
    summary = {
        "elapsed": result.elapsed,
        "deliveries_per_s": result.deliveries_per_s,
        "ok": result.ok,
        "problems": result.problems,
    }
    print(json.dumps(summary), flush=True)
    return 0


def idle_phase(root: tk.Tk, meter: Meter, console: CountingConsole, seconds: float) -> Phase:
    handled, drawn = console.handled, meter.drawn
    start = time.perf_counter()
    run_until(root, lambda: time.perf_counter() - start >= seconds)
    end = time.perf_counter()
    median, p99, worst = meter.lag_ms((start, end))
    return Phase("idle", end - start, (console.handled - handled) / (end - start),
                 (meter.drawn - drawn) / (end - start), median, p99, worst)  # fmt: skip


def load_phase(
    root: tk.Tk,
    window: ClientWindow,
    meter: Meter,
    console: CountingConsole,
    *,
    address: tuple[str, int],
    number: int,
) -> Phase:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.gui_under_load",
            "--loadgen",
            address[0],
            str(address[1]),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    marks: dict[str, float] = {}
    output: list[str] = []

    def read() -> None:
        assert child.stdout is not None
        for text in child.stdout:
            word = text.strip()
            if word in ("start", "stop"):
                marks[word] = time.perf_counter()
            else:
                output.append(word)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    handled_before, drawn_before = console.handled, meter.drawn
    expected = handled_before + SCENARIO.senders * SCENARIO.messages
    finished = run_until(root, lambda: child.poll() is not None, LOAD_TIMEOUT + 30)
    if not finished:
        child.kill()
    child.wait()
    reader.join(5)
    drained = run_until(
        root,
        lambda: console.handled >= expected or window.status is not Status.CONNECTED,
        DRAIN_TIMEOUT,
    )
    end = time.perf_counter()
    start = marks.get("start", end)
    load_end = marks.get("stop", end)
    median, p99, worst = meter.lag_ms((start, end))
    summary = json.loads(output[-1]) if output and output[-1].startswith("{") else {}
    notes = []
    if not summary.get("ok"):
        notes.append("load generator: " + "; ".join(summary.get("problems", ["no result"])))
    if window.status is not Status.CONNECTED:
        notes.append("the server dropped the window's client")
    elif not drained:
        notes.append(f"window had not handled all lines after {DRAIN_TIMEOUT:g} s")
    seconds = max(end - start, 1e-9)
    return Phase(
        f"b #{number}",
        seconds,
        (console.handled - handled_before) / seconds,
        (meter.drawn - drawn_before) / seconds,
        median,
        p99,
        worst,
        load_s=load_end - start,
        deliveries_per_s=summary.get("deliveries_per_s", 0.0),
        drain_s=end - load_end,
        note="; ".join(notes),
        span=(start, end),
    )


def start_server() -> ServerProcess:
    for host in HOSTS:
        try:
            return ServerProcess(TCPCHAT, host, PORT, cpu=None)
        except RuntimeError:
            continue  # address in use: try the next one
    raise SystemExit(f"no free address among {HOSTS[0]}..{HOSTS[-1]} port {PORT}")


def cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def row(phase: Phase) -> str:
    load = (
        f"{phase.load_s:>6.2f} {phase.deliveries_per_s / 1e6:>7.2f}M {phase.drain_s:>7.2f}"
        if phase.load_s
        else f"{'-':>6} {'-':>8} {'-':>7}"
    )
    lags = f"{phase.lag_median_ms:>8.1f} {phase.lag_p99_ms:>7.1f} {phase.lag_max_ms:>7.1f}"
    rates = f"{phase.handled_per_s:>9.0f} {phase.drawn_per_s:>8.0f}"
    return f"{phase.name:<8} {phase.seconds:>6.2f} {load} {rates} {lags} {phase.note}".rstrip()


def pooled_phase(phases: list[Phase], meter: Meter) -> Phase:
    """Medians of the runs' rates and times; the tick lags of all runs pooled."""

    def mid(name: str) -> float:
        return statistics.median(getattr(phase, name) for phase in phases)

    names = ("seconds", "handled_per_s", "drawn_per_s", "load_s", "deliveries_per_s", "drain_s")
    nothing = float("nan")
    pooled = Phase("b all", **{name: mid(name) for name in names}, lag_median_ms=nothing,
                   lag_p99_ms=nothing, lag_max_ms=nothing)  # fmt: skip
    pooled.lag_median_ms, pooled.lag_p99_ms, pooled.lag_max_ms = meter.lag_ms(
        *(phase.span for phase in phases)
    )
    return pooled


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--loadgen":
        return loadgen_child(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    args = parser.parse_args()
    xvfb = None
    if not os.environ.get("DISPLAY"):
        xvfb, os.environ["DISPLAY"] = start_xvfb("1280x800x24")
    server = start_server()
    window: ClientWindow | None = None
    try:
        print(
            f"# {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()},"
            f" Tk {tk.TkVersion}; load average {os.getloadavg()[0]:.2f};"
            f" server {server.address[0]}:{server.address[1]}, limits off;"
            f" scenario {SCENARIO.name}: {SCENARIO.title}; tick {TICK_MS} ms",
            flush=True,
        )
        root = tk.Tk()
        ROOTS.append(root)
        console = CountingConsole()
        window = ClientWindow(root, *server.address, nick="watcher", console=console)
        window.start()
        if not run_until(root, lambda: window.status is Status.CONNECTED, 15):
            raise SystemExit(f"the window did not connect: {window.status_text}")
        meter = Meter(root, window)
        print("phase    window s load s deliv/s drain s handled/s  drawn/s  lag ms: median p99 max")
        print(row(idle_phase(root, meter, console, args.idle_seconds)), flush=True)
        runs = []
        for number in range(1, args.repeats + 1):
            runs.append(
                load_phase(root, window, meter, console, address=server.address, number=number)
            )
            print(row(runs[-1]), flush=True)
            run_until(root, lambda: False, 1.0)  # let the server settle between runs
        if len(runs) > 1:
            print(row(pooled_phase(runs, meter)))
        print(row(idle_phase(root, meter, console, args.idle_seconds)), flush=True)
        print(f"# load average afterwards {os.getloadavg()[0]:.2f}")
        meter.stop()
    finally:
        if window is not None:
            window.close()
        server.stop()
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
