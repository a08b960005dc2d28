"""Windows on an X server without a window manager: side by side, and the keyboard.

Real ``python -m tcpchat`` window processes on an Xvfb of the test's own
(1280x720, the browser view's screen), so the screen size is known and no other
test's windows share it.  Positions are read back with ``xdotool
getwindowgeometry``; the keyboard is checked by typing *without* giving any
window the focus first (nothing else would: there is no window manager).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from gui_helpers import screenshot
from harness import ChatProcess, RawPeer, no_traceback

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(
        not (shutil.which("Xvfb") and shutil.which("xdotool") and shutil.which("import")),
        reason="needs Xvfb, xdotool and imagemagick",
    ),
]

SCREEN = (1280, 720)
TIMEOUT = 15.0


@pytest.fixture
def bare_display() -> Iterator[dict[str, str]]:
    """An Xvfb of this test's own, with no window manager: the environment to use it."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp",
         "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers:
            number = numbers.readline().strip()  # written once Xvfb accepts clients
        assert number, f"Xvfb did not start (exit code {xvfb.wait(TIMEOUT)})"
        yield {"DISPLAY": f":{number}"}
    finally:
        xvfb.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            xvfb.wait(TIMEOUT)
        if xvfb.poll() is None:
            xvfb.kill()
            xvfb.wait(TIMEOUT)


def xdotool(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["xdotool", *args], env={**os.environ, **env}, check=True, capture_output=True,
        text=True, timeout=TIMEOUT,
    )  # fmt: skip
    return done.stdout.strip()


def window(env: dict[str, str], role: str) -> str:
    """The X id of the *role* window, once it is shown."""
    return xdotool(env, "search", "--sync", "--onlyvisible", "--name", f"^tcpchat {role} ")


def geometry(env: dict[str, str], window_id: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a window, as the X server has it."""
    shell = xdotool(env, "getwindowgeometry", "--shell", window_id)
    values = dict(line.split("=", 1) for line in shell.splitlines())
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def wait_for_geometry(
    env: dict[str, str], window_id: str, expected: tuple[int, int, int, int]
) -> None:
    """Wait until the window is at *expected*: it moves itself just after being shown."""
    deadline = time.monotonic() + TIMEOUT
    seen = geometry(env, window_id)
    while seen != expected:
        assert time.monotonic() < deadline, f"window {window_id} at {seen}, not at {expected}"
        seen = geometry(env, window_id)  # each xdotool run takes a few milliseconds


def open_windows(
    start_process: Callable[..., ChatProcess],
    address: tuple[str, int],
    env: dict[str, str],
    *client_options: str,
) -> tuple[ChatProcess, ChatProcess]:
    where = ["--host", address[0], "--port", str(address[1])]
    server = start_process(["server", *where], env=env, name="server-window")
    server.wait_for_output(r"\* listening on ")
    client = start_process(["client", *where, "--nick", "bare", *client_options], env=env,
                           name="client-window")  # fmt: skip
    client.wait_for_output(r"\* bare joined$")  # connected: Send is enabled
    return server, client


def test_server_and_client_windows_open_side_by_side_and_the_client_has_the_keyboard(
    bare_display: dict[str, str],
    start_process: Callable[..., ChatProcess],
    raw_peer: Callable[..., RawPeer],
    address: tuple[str, int],
    artifacts_dir: Path,
) -> None:
    env = bare_display
    server, client = open_windows(start_process, address, env)
    peer = raw_peer()
    peer.expect_line(r"^\* welcome")
    server_id, client_id = window(env, "server"), window(env, "client")
    half = SCREEN[0] // 2
    wait_for_geometry(env, server_id, (0, 0, half, SCREEN[1]))
    wait_for_geometry(env, client_id, (half, 0, SCREEN[0] - half, SCREEN[1]))

    # Nobody gave the client window the focus, yet typing reaches its entry.
    xdotool(env, "type", "--delay", "20", "typed with no window manager")
    xdotool(env, "key", "Return")
    assert peer.expect_line(r"^bare: ") == "bare: typed with no window manager"

    # A click into the server window moves the keyboard there.
    xdotool(env, "mousemove", str(half // 2), str(SCREEN[1] - 60), "click", "1")
    xdotool(env, "type", "--delay", "20", "now in the server window")
    xdotool(env, "key", "Return")
    assert peer.expect_line(r"^Server: ") == "Server: now in the server window"
    client.wait_for_output(r"\] Server: now in the server window$")
    screenshot_env = {**os.environ, **env}
    with _environment(screenshot_env):
        screenshot(artifacts_dir / "side-by-side.png")
    assert client.stop() == 0
    assert server.stop() == 0
    assert no_traceback(server.stdout, server.stderr, client.stdout, client.stderr)


def test_geometry_option_places_a_window(
    bare_display: dict[str, str],
    start_process: Callable[..., ChatProcess],
    address: tuple[str, int],
) -> None:
    env = bare_display
    server, client = open_windows(start_process, address, env, "--geometry", "500x400+100+50")
    wait_for_geometry(env, window(env, "client"), (100, 50, 500, 400))
    wait_for_geometry(env, window(env, "server"), (0, 0, SCREEN[0] // 2, SCREEN[1]))
    assert client.stop() == 0
    assert server.stop() == 0


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """Run the block with *env* as os.environ (gui_helpers.screenshot reads $DISPLAY)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
