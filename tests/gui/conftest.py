"""Fixtures for the window tests: a Tk root that fails the test on any callback error.

Tk swallows exceptions raised in callbacks (a click handler, an ``after()``
job): it hands them to ``report_callback_exception``, which prints and goes
on.  A window test that ignored those would pass with a broken window, so the
``tk_root`` fixture records them and :func:`pytest_runtest_call` fails the test
if any was reported.  The display is the Xvfb that ``pytest-xvfb`` starts.
"""

from __future__ import annotations

import contextlib
import gc
import io
import threading
import tkinter as tk
from typing import Iterator

import pytest
from gui_helpers import RecordingTk

from tcpchat.gui import i18n


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test that passed if Tk reported a callback exception during it."""
    result = yield
    root = getattr(item, "funcargs", {}).get("tk_root")
    if isinstance(root, RecordingTk) and root.callback_errors:
        pytest.fail("Tk reported a callback exception:\n" + "\n".join(root.callback_errors))
    return result


_ROOTS: list[RecordingTk] = []
"""Every root ever made, kept to the end of the run: a Tk interpreter (or a Tk
font) freed by the garbage collector on a core's thread aborts the process
("Tcl_AsyncDelete: async handler deleted by the wrong thread")."""


@pytest.fixture
def tk_root() -> Iterator[RecordingTk]:
    """A fresh Tk root on the test display, destroyed (and checked) afterwards."""
    try:
        root = RecordingTk()
    except tk.TclError as exc:
        pytest.skip(f"no X display for the window tests: {exc}")
    _ROOTS.append(root)
    i18n.set_language("en")
    yield root
    with contextlib.suppress(tk.TclError):  # the window closed itself, destroying the root
        root.destroy()
    gc.collect()  # other garbage with Tk objects in it: free it here, on the Tk thread


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Fail a test that leaves a core thread running (set up first, so checked last)."""
    yield
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("tcpchat")]
    assert not leftover, f"threads left running: {leftover}"


@pytest.fixture
def console() -> io.StringIO:
    """Where a window under test logs its console lines."""
    return io.StringIO()
