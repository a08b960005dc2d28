"""``tcpchat demo``: a server window and a client window, in two processes.

Each window is its own ``python -m tcpchat`` process, exactly as a user would
start it, so the demo shows the real thing talking over a real socket.  The
client starts once the server reports that it is listening (its console line),
and when either window is closed the other is asked to close too (SIGTERM,
which each window turns into a clean close: the client says ``/quit``, the
server sends its shutdown notice).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from typing import IO

from tcpchat.gui.launch import EXIT_NO_DISPLAY, WindowSettings, display_problem
from tcpchat.protocol import OPERATOR_NICK
from tcpchat.runtime import Bell, on_stop_signals

LISTENING = re.compile(r"\* listening on ")
"""The server window's console line once it is ready (``events.transcript_line``)."""
STOP_TIMEOUT = 10.0
"""Seconds a window gets to close cleanly before it is killed."""


def run_demo(settings: WindowSettings) -> int:
    """Run the two windows until one is closed or we get SIGINT/SIGTERM; the exit code."""
    problem = display_problem(settings.display)
    if problem:
        print(f"tcpchat: {problem}", file=sys.stderr, flush=True)
        return EXIT_NO_DISPLAY
    options = ["--host", settings.host, "--port", str(settings.port)]
    if settings.lang:
        options += ["--lang", settings.lang]
    log_file = ["--log-file", settings.log_file] if settings.log_file else []
    # The operator keeps the default name: TCPCHAT_NICK, which both processes
    # inherit, is the client window's, and one name cannot be both.
    operator = ["--nick", OPERATOR_NICK]
    server = _spawn(["server", *options, *operator, *log_file], stdout=subprocess.PIPE)
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
    ended = Bell()  # rung by a signal handler or a waiter thread: both safe
    on_stop_signals(ended.ring)
    for window in windows:

        def wait(window: subprocess.Popen[str] = window) -> None:
            window.wait()
            ended.ring()

        waiter = threading.Thread(target=wait, name="tcpchat-demo-wait", daemon=True)
        waiter.start()  # daemon: it ends when its window does, which _stop() makes sure of
    ended.wait()  # in slices, so that a signal's handler gets to run


def _stop(window: subprocess.Popen[str]) -> None:
    if window.poll() is None:
        window.terminate()  # SIGTERM: the window closes itself cleanly
    try:
        window.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        window.kill()
        window.wait()
