"""A stalled console costs console lines, never the log file and never shutdown (issue 15 item 3).

The server's standard output is a pipe nobody reads (a stalled supervisor, or
Ctrl-S in a terminal).  Before, the event thread blocked in ``print()``: the log
file got 35 of 5,420 lines and SIGTERM waited for the pipe's reader.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import PORT, REPO_ROOT, loopback_address

LINES = 6000  # a pipe holds 64 KiB (about 1,500 console lines), the printer 1,000 more
TIMEOUT = 60.0


def _server(host: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tcpchat", "server", "--headless", "--host", host,
               "--log-file", str(log), "--max-lines-per-second", "0"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def _connect(host: str) -> socket.socket:
    deadline = time.monotonic() + TIMEOUT
    while True:  # the server is listening once it accepts (stdout cannot tell us: nobody reads it)
        try:
            return socket.create_connection((host, PORT), timeout=TIMEOUT)
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.05)


def _wait_for_log(log: Path, lines: int) -> list[str]:
    deadline = time.monotonic() + TIMEOUT
    while True:  # a file's growth cannot be awaited: poll it, with a deadline
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        chat = [line for line in text.splitlines() if re.search(r" Client: m\d+$", line)]
        if len(chat) >= lines or time.monotonic() > deadline:
            return chat
        time.sleep(0.05)


def _flood(host: str) -> socket.socket:
    sender = _connect(host)
    drain = threading.Thread(target=lambda: sender.makefile("rb").read(), daemon=True)
    drain.start()  # read its echoes, so the sender is not dropped as too slow
    sender.sendall(b"".join(f"m{i}\n".encode() for i in range(LINES)))
    return sender


def test_a_stalled_console_loses_console_lines_not_the_log_and_reports_them(
    tmp_path: Path,
) -> None:
    host, log = loopback_address(), tmp_path / "chat.log"
    server = _server(host, log)
    try:
        sender = _flood(host)
        assert len(_wait_for_log(log, LINES)) == LINES  # all of it, with the console stalled
        assert server.stdout is not None
        seen: list[bytes] = []
        reader = threading.Thread(target=lambda: seen.extend(server.stdout or []), daemon=True)
        reader.start()  # the console's reader comes back
        sender.sendall(b"after\n")  # one more line, so there is something after the report
        assert len(_wait_for_log_line(log, "Client: after")) == 1
        server.send_signal(signal.SIGTERM)
        assert server.wait(TIMEOUT) == 0
        reader.join(TIMEOUT)
        console = b"".join(seen).decode()
        match = re.search(r"\(console fell behind: (\d+) lines not shown\)", console)
        assert match, console[-2000:]
        shown = len(re.findall(r"Client: m\d+\n", console))
        assert shown + int(match.group(1)) == LINES  # every line shown or counted
        sender.close()
    finally:
        server.kill()
        server.wait()


def _wait_for_log_line(log: Path, text: str) -> list[str]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = [line for line in log.read_text(encoding="utf-8").splitlines() if text in line]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_sigterm_ends_a_server_whose_console_is_stalled(tmp_path: Path) -> None:
    host, log = loopback_address(), tmp_path / "chat.log"
    server = _server(host, log)
    try:
        sender = _flood(host)
        assert len(_wait_for_log(log, LINES)) == LINES
        server.send_signal(signal.SIGTERM)  # nobody has read standard output at all
        assert server.wait(TIMEOUT) == 0
        assert "server stopped" in log.read_text(encoding="utf-8")
        sender.close()
    finally:
        server.kill()
        server.wait()
