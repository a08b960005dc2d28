"""Black-box window tests: real ``python -m tcpchat`` window processes on Xvfb.

The windows are driven the way a person would, with the keyboard (xdotool
types into them, after giving them the focus, since Xvfb has no window
manager to do it), and checked from the outside: by a raw-socket peer, by
their console lines, and by screenshots saved under ``artifacts/<test>/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from gui_helpers import child_pids, command_line, find_window, screenshot, type_into
from harness import ChatProcess, RawPeer, no_traceback

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(
        not os.environ.get("DISPLAY") or not (shutil.which("xdotool") and shutil.which("import")),
        reason="needs an X display (pytest-xvfb), xdotool and imagemagick",
    ),
]

StartProcess = Callable[..., ChatProcess]
Connect = Callable[..., RawPeer]


def window_args(command: str, address: tuple[str, int], *extra: str) -> list[str]:
    return [command, "--host", address[0], "--port", str(address[1]), *extra]


def title(role: str, address: tuple[str, int]) -> str:
    """The window title (``tcpchat server — 127.x.y.z:9000``) as an xdotool regex.

    The dash is matched loosely: xdotool sees the title in the X encoding Tk
    chose for WM_NAME, not as UTF-8.
    """
    return f"^tcpchat {role} .+ {re.escape(address[0])}:{address[1]}$"


def test_client_window_typed_text_reaches_a_raw_peer(
    server: ChatProcess,
    start_process: StartProcess,
    raw_peer: Connect,
    address: tuple[str, int],
    artifacts_dir: Path,
) -> None:
    peer = raw_peer()
    peer.expect_line(r"^\* welcome")
    client = start_process(window_args("client", address, "--nick", "gui"), name="client")
    peer.expect_line(r"^\* gui joined$")
    client.wait_for_output(r"\* gui joined$")  # the window is connected: Send is enabled

    type_into(find_window(title("client", address)), "Halo server!")

    assert peer.expect_line(r"^gui: ") == "gui: Halo server!"
    peer.send_line("Hai gui, apa kabar?")
    client.wait_for_output(r"\] Client: Hai gui, apa kabar\?$")
    screenshot(artifacts_dir / "client-window.png")
    assert client.stop() == 0
    server.wait_for_output(r"\* gui left \(quit\)")  # the window said /quit on closing
    assert no_traceback(client.stdout, client.stderr)


def test_server_window_typed_text_reaches_a_raw_peer(
    start_process: StartProcess, raw_peer: Connect, address: tuple[str, int], artifacts_dir: Path
) -> None:
    log_file = artifacts_dir / "transcript.log"
    log_file.unlink(missing_ok=True)
    server = start_process(
        window_args("server", address, "--log-file", str(log_file)), name="server-window"
    )
    server.wait_for_output(r"\* listening on ")
    peer = raw_peer()
    peer.expect_line(r"^\* welcome")
    server.wait_for_output(r"\* Client joined from ")

    type_into(find_window(title("server", address)), "Hai client!")

    assert peer.expect_line(r"^Server: ") == "Server: Hai client!"
    peer.send_line("Halo server!")
    server.wait_for_output(r"\] Client: Halo server!$")
    screenshot(artifacts_dir / "server-window.png")
    assert server.stop() == 0
    peer.expect_line(r"^\* server shutting down$")
    peer.wait_closed()
    assert no_traceback(server.stdout, server.stderr)
    logged = log_file.read_text(encoding="utf-8")
    assert re.search(r"^\S+ Server: Hai client!$", logged, re.MULTILINE)
    assert re.search(r"^\S+ \* server stopped$", logged, re.MULTILINE)


def test_client_window_uses_tls_and_the_password(
    start_process: StartProcess, address: tuple[str, int], tmp_path: Path
) -> None:
    """--cafile and --password reach the window's client (a TLS door step echoes)."""
    from door_helpers import door_step, make_certificate

    from tcpchat.server.door import Gate
    from tcpchat.tls import server_context

    certificate = make_certificate(tmp_path, address[0])
    gate = Gate(tls=server_context(*certificate), password="s3cret")
    with door_step(gate, address[0]) as door:
        client = start_process(
            window_args("client", door.address, "--cafile", certificate[0], "--password", "s3cret"),
            name="client",
        )
        client.wait_for_output(r"\* password accepted$")
        client.wait_for_output(r"\* welcome$")
        type_into(find_window(title("client", door.address)), "over TLS")
        client.wait_for_output(r"\] echo: over TLS$")
        assert client.stop() == 0
    assert no_traceback(client.stdout, client.stderr)


def test_unreachable_server_is_shown_in_the_client_window(
    start_process: StartProcess, address: tuple[str, int], artifacts_dir: Path
) -> None:
    client = start_process(window_args("client", address), name="client")
    client.wait_for_output(r"\* error: cannot connect to .*connection refused")
    find_window(title("client", address))  # the window stays open, offering Reconnect
    screenshot(artifacts_dir / "client-unreachable.png")
    assert client.stop() == 0
    assert no_traceback(client.stdout, client.stderr)


def test_server_window_on_a_busy_address_fails_in_one_line(
    server: ChatProcess, start_process: StartProcess, address: tuple[str, int]
) -> None:
    second = start_process(window_args("server", address), name="second-server")
    assert second.wait() == 2
    assert re.fullmatch(r"tcpchat: cannot listen on \S+: address already in use .*", second.stderr)
    assert no_traceback(second.stderr)


@pytest.mark.parametrize("command", ["server", "client", "demo"])
@pytest.mark.parametrize("display", [None, ":9999"], ids=["unset", "unreachable"])
def test_no_display_says_so_in_one_line(
    command: str, display: str | None, address: tuple[str, int]
) -> None:
    env = {name: value for name, value in os.environ.items() if name != "DISPLAY"}
    if display:
        env["DISPLAY"] = display
    done = subprocess.run(
        [sys.executable, "-m", "tcpchat", *window_args(command, address)],
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert "DISPLAY" in done.stderr
    assert "--headless" in done.stderr
    assert no_traceback(done.stderr)


def test_demo_opens_both_windows_and_closing_one_ends_both(
    start_process: StartProcess, raw_peer: Connect, address: tuple[str, int], artifacts_dir: Path
) -> None:
    demo = start_process(window_args("demo", address), name="demo")
    demo.wait_for_output(r"\* Client joined from ")
    demo.out.wait_for(r"\* welcome, you are Client;", 15)  # the client window is connected
    find_window(title("server", address))
    client_window = find_window(title("client", address))
    type_into(client_window, "Halo server!")
    demo.wait_for_output(r"\] Client: Halo server!$")
    screenshot(artifacts_dir / "demo.png")

    clients = [pid for pid in child_pids(demo.pid) if "client" in command_line(pid)]
    assert len(clients) == 1
    os.kill(clients[0], signal.SIGTERM)  # as a desktop does when a window must go

    assert demo.wait() == 0
    assert re.search(r"\* server stopped$", demo.stdout, re.MULTILINE)
    assert child_pids(demo.pid) == []
    assert no_traceback(demo.stdout, demo.stderr)
