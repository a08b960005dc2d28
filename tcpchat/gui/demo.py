"""``tcpchat demo``: a server window and a client window, in two processes.

Each window is its own ``python -m tcpchat`` process, exactly as a user would
start it, so the demo shows the real thing talking over a real socket.  The
client starts once the server reports that it is listening (its console line),
and when either window is closed the other is asked to close too (SIGTERM,
which each window turns into a clean close: the client says ``/quit``, the
server sends its shutdown notice).
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import re
import signal
import subprocess
import sys
import threading
from typing import IO

from tcpchat.console import SIGNAL_CHECK_SECONDS
from tcpchat.gui.launch import EXIT_NO_DISPLAY, display_problem

LISTENING = re.compile(r"\* listening on ")
"""The server window's console line once it is ready (``events.transcript_line``)."""
STOP_TIMEOUT = 10.0
"""Seconds a window gets to close cleanly before it is killed."""


def run_demo(args: argparse.Namespace) -> int:
    problem = display_problem()
    if problem:
        print(f"tcpchat: {problem}", file=sys.stderr, flush=True)
        return EXIT_NO_DISPLAY
    options = ["--host", args.host, "--port", str(args.port)]
    if args.lang:
        options += ["--lang", args.lang]
    log_file = ["--log-file", args.log_file] if args.log_file else []
    server = _spawn(["server", *options, *log_file], stdout=subprocess.PIPE)
    assert server.stdout is not None
    if not _echo_until_listening(server.stdout):
        return server.wait()  # it could not start, and said why on stderr
    echo = threading.Thread(target=_echo, args=(server.stdout,), name="tcpchat-demo-echo")
    echo.start()
    client = _spawn(["client", *options])
    windows = [server, client]
    try:
        _wait_for_first_exit(windows)
    finally:
        for window in windows:
            _stop(window)
        echo.join()
    return 0


def _spawn(arguments: list[str], stdout: int | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tcpchat", *arguments]
    return subprocess.Popen(command, stdout=stdout, text=True, encoding="utf-8", errors="replace")


def _echo_until_listening(stream: IO[str]) -> bool:
    """Copy *stream* to our stdout until the server says it listens (False: it ended)."""
    for line in stream:
        _echo_line(line)
        if LISTENING.search(line):
            return True
    return False


def _echo(stream: IO[str]) -> None:
    for line in stream:
        _echo_line(line)


def _echo_line(line: str) -> None:
    sys.stdout.write(line)
    sys.stdout.flush()


def _wait_for_first_exit(windows: list[subprocess.Popen[str]]) -> None:
    """Block until one window process ends, or until we are told to stop."""
    ended: queue.SimpleQueue[object] = queue.SimpleQueue()  # put() is signal-safe
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda _signum, _frame: ended.put(None))
    for window in windows:
        waiter = threading.Thread(
            target=lambda w=window: ended.put(w.wait()), name="tcpchat-demo-wait", daemon=True
        )
        waiter.start()  # daemon: it ends when its window does, which _stop() makes sure of
    while True:  # in slices, so that a signal's handler gets to run (see console.wait_for)
        with contextlib.suppress(queue.Empty):
            ended.get(timeout=SIGNAL_CHECK_SECONDS)
            return


def _stop(window: subprocess.Popen[str]) -> None:
    if window.poll() is None:
        window.terminate()  # SIGTERM: the window closes itself cleanly
    try:
        window.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        window.kill()
        window.wait()
