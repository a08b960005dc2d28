"""Helpers for the window tests: a recording Tk root, an event-loop wait, X tools."""

from __future__ import annotations

import subprocess
import time
import tkinter as tk
import traceback
from pathlib import Path
from types import TracebackType
from typing import Callable

TIMEOUT = 15.0


class RecordingTk(tk.Tk):
    """A Tk root that records callback exceptions instead of only printing them."""

    def __init__(self) -> None:
        super().__init__(className="tcpchat-test")
        self.callback_errors: list[str] = []

    def report_callback_exception(
        self, exc: type[BaseException], val: BaseException, tb: TracebackType | None
    ) -> None:
        self.callback_errors.append("".join(traceback.format_exception(exc, val, tb)))


def pump_until(
    root: tk.Tk, predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT
) -> None:
    """Run Tk's event loop until *predicate* holds; fail after *timeout* saying *what*.

    Each round waits for the next Tk event (the window's own poll timer, an X
    event, or a short wake-up timer of ours), so the loop does not spin.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        wake = root.after(20, _nothing)
        root.tk.dooneevent(0)
        root.after_cancel(wake)


def _nothing() -> None:
    pass


def screenshot(path: Path) -> Path:
    """Save the whole X screen (``$DISPLAY``) as a PNG."""
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=TIMEOUT)
    return path


def xdotool(*args: str) -> str:
    """Run xdotool on ``$DISPLAY``; its output."""
    done = subprocess.run(
        ["xdotool", *args], check=True, capture_output=True, text=True, timeout=TIMEOUT
    )
    return done.stdout.strip()


def find_window(title_regex: str) -> str:
    """The X id of the window whose title matches, once it is shown."""
    return xdotool("search", "--sync", "--onlyvisible", "--name", title_regex).splitlines()[0]


ENTRY_FROM_BOTTOM = 52
"""Pixels from a chat window's bottom edge to the middle of its entry (both windows)."""


def type_into(window_id: str, text: str) -> None:
    """Give *window_id* the keyboard (there is no window manager to) and type *text*, Return.

    X focus alone is not enough: keys that arrive before Tk has handled the
    FocusIn are dropped (a first "H" was lost that way).  A click on the entry
    is handled in order before the keys that follow it, and gives it Tk's focus.
    """
    xdotool("windowfocus", "--sync", window_id)
    height = int(dict(
        line.split("=", 1) for line in xdotool("getwindowgeometry", "--shell", window_id).split()
    )["HEIGHT"])  # fmt: skip
    y = str(height - ENTRY_FROM_BOTTOM)
    xdotool("mousemove", "--window", window_id, "--sync", "60", y, "click", "1")
    xdotool("type", "--delay", "20", text)
    xdotool("key", "Return")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is *pid* (Linux: read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
