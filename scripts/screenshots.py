#!/usr/bin/env python3
"""Regenerate docs/server-window.png and docs/client-window.png from real windows.

    python scripts/screenshots.py [--host 127.0.0.1] [--port 9000] [--out docs]

Starts a private Xvfb (its own display number, via ``-displayfd``), a server
window and a client window (``python -m tcpchat …``, in Indonesian for the
client, as the original's audience wrote), and a third participant on a raw
socket.  The conversation is typed into the windows with xdotool, the way a
person would, then each window is captured with ImageMagick's ``import``.

Needs: Xvfb, xdotool, imagemagick (``import``), fonts-dejavu-core.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Iterator

from xvfb import start_xvfb

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 15.0
GAP = 16  # pixels between the two windows on the virtual screen


class Window:
    """A ``python -m tcpchat`` window process whose console lines we can wait for."""

    def __init__(self, display: str, *args: str) -> None:
        env = {**os.environ, "DISPLAY": display, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "tcpchat", *args]
        self.process = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )
        assert self.process.stdout is not None
        self.lines: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_for(self, pattern: str) -> None:
        regex = re.compile(pattern)
        with self.changed:
            if not self.changed.wait_for(
                lambda: any(regex.search(line) for line in self.lines), TIMEOUT
            ):
                raise SystemExit(f"timed out waiting for {pattern!r}; saw {self.lines[-5:]}")

    def stop(self) -> None:
        self.process.terminate()  # the window closes itself cleanly on SIGTERM
        self.process.wait(TIMEOUT)


def xdotool(display: str, *args: str) -> str:
    done = subprocess.run(
        ["xdotool", *args],
        env={**os.environ, "DISPLAY": display},
        check=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return done.stdout.strip()


def find_window(display: str, title_regex: str) -> str:
    return xdotool(display, "search", "--sync", "--onlyvisible", "--name", title_regex)


def type_line(display: str, window: str, text: str) -> None:
    xdotool(display, "windowfocus", "--sync", window)
    xdotool(display, "type", "--delay", "15", text)
    xdotool(display, "key", "Return")


def raw_peer(host: str, port: int) -> Iterator[None]:
    """A third participant, ayu, on a plain socket (a generator: each step says one thing)."""
    with socket.create_connection((host, port), TIMEOUT) as sock:
        sock.sendall(b"/nick ayu\n")
        yield
        sock.sendall(b"Selamat pagi! Boleh ikut ngobrol?\n")
        yield
        sock.sendall(b"/quit\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    where = ["--host", args.host, "--port", str(args.port)]

    xvfb, display = start_xvfb()
    windows: list[Window] = []
    try:
        server = Window(display, "server", *where)
        windows.append(server)
        server.wait_for(r"\* listening on ")
        client = Window(display, "client", *where, "--lang", "id")
        windows.append(client)
        server.wait_for(r"\* Client joined from ")
        server_id = find_window(display, "^tcpchat server ")
        client_id = find_window(display, "^Klien tcpchat ")  # its title is in Indonesian
        width = int(xdotool(display, "getwindowgeometry", server_id).split("x")[0].split()[-1])
        xdotool(display, "windowmove", "--sync", client_id, str(width + GAP), "0")

        type_line(display, server_id, "Hai client!")
        client.wait_for(r"Server: Hai client!")
        type_line(display, client_id, "Halo server!")
        server.wait_for(r"Client: Halo server!")
        ayu = raw_peer(args.host, args.port)
        next(ayu)
        server.wait_for(r"is now ayu")
        type_line(display, server_id, "Selamat datang, ayu!")
        client.wait_for(r"Server: Selamat datang, ayu!")
        next(ayu)
        client.wait_for(r"ayu: Selamat pagi")
        type_line(display, client_id, "Pagi, ayu! Ini chat TCP, satu baris per pesan.")
        server.wait_for(r"Client: Pagi, ayu!")
        type_line(display, client_id, "/who")
        client.wait_for(r"\* online: ")
        type_line(display, server_id, "Ketik /help untuk daftar perintah.")
        server.wait_for(r"Server: Ketik /help")
        client.wait_for(r"Server: Ketik /help")
        time.sleep(0.5)  # let both windows finish drawing the last line

        args.out.mkdir(parents=True, exist_ok=True)
        for window_id, name in ((server_id, "server-window"), (client_id, "client-window")):
            path = args.out / f"{name}.png"
            subprocess.run(
                ["import", "-display", display, "-window", window_id, "-strip", str(path)],
                check=True,
                timeout=TIMEOUT,
            )
            print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        ayu.close()
    finally:
        for window in reversed(windows):
            window.stop()
        xvfb.terminate()
        xvfb.wait(TIMEOUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
