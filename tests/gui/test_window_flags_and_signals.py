"""Window processes: ``--lang`` shows in the title, and signals close a busy window cleanly.

Issue 16: the launcher's signal handler must only *request* the close (a flag
the window's next tick acts on).  Closing from the handler itself runs the
window's shutdown in the middle of whatever the main thread was doing: under a
flood, that is taking events from the core's inbox, and the close then waits
on the very lock the interrupted code holds.  So each signal here arrives while
the window is drawing a flood, several times over.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path
from typing import Callable

import pytest
from gui_helpers import find_window
from harness import ChatProcess, RawPeer, joined_peer, no_traceback

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(
        not os.environ.get("DISPLAY") or not shutil.which("xdotool"),
        reason="needs an X display (pytest-xvfb) and xdotool",
    ),
]

Start = Callable[..., ChatProcess]


def window_args(command: str, address: tuple[str, int], *extra: str) -> list[str]:
    return [command, "--host", address[0], "--port", str(address[1]), *extra]


@pytest.mark.parametrize(
    ("lang", "title"),
    [("id", "^Server tcpchat .+ {where}$"), ("en", "^tcpchat server .+ {where}$")],
)
def test_lang_sets_the_window_language(
    lang: str, title: str, address: tuple[str, int], start_process: Start
) -> None:
    server = start_process(window_args("server", address, "--lang", lang), name="window")
    server.wait_for_output(r"\* listening on ")
    where = re.escape(f"{address[0]}:{address[1]}")
    assert find_window(title.format(where=where))
    assert server.stop() == 0


def flood(peer: RawPeer, lines: int = 50_000) -> None:
    peer.send_bytes(b"".join(b"flood line %d\n" % n for n in range(lines)))


@pytest.mark.parametrize("trial", range(3))
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_closes_the_server_window_mid_flood(
    trial: int, number: signal.Signals, address: tuple[str, int], start_process: Start
) -> None:
    server = start_process(
        window_args("server", address, "--max-lines-per-second", "0"), name="window"
    )
    server.wait_for_output(r"\* listening on ")
    peer = joined_peer(address)
    flood(peer)
    server.wait_for_output(r"Client: flood line \d+$")  # the window is busy drawing it
    server.signal(number)
    assert server.wait(timeout=20) == 0
    assert any(line == "* server shutting down" for line in peer.lines) or peer.expect_line(
        r"^\* server shutting down$"
    )
    assert no_traceback(server.stdout, server.stderr)
    peer.close()


@pytest.mark.parametrize("trial", range(2))
def test_sigterm_closes_the_client_window_mid_flood(
    trial: int, address: tuple[str, int], start_process: Start, tmp_path: Path
) -> None:
    host, port = address
    log = tmp_path / "chat.log"
    server = start_process(
        ["server", "--headless", "--host", host, "--port", str(port),
         "--max-lines-per-second", "0", "--log-file", str(log)],
        name="server",
    )  # fmt: skip
    server.wait_for_output(r"^listening on ")
    talker = joined_peer(address)
    client = start_process(window_args("client", address, "--nick", "win"), name="window")
    server.wait_for_output(r"\* win joined from ")
    flood(talker)
    client.wait_for_output(r"Client: flood line \d+$")
    client.signal(signal.SIGTERM)
    assert client.wait(timeout=20) == 0
    # It closed the way a person closing it would.  The server's console may skip
    # lines of a flood it cannot keep up with (counted); its log file keeps them all.
    server.signal(signal.SIGTERM)
    assert server.wait(timeout=20) == 0
    assert re.search(r"\* win left \(quit\)$", log.read_text(encoding="utf-8"), re.MULTILINE)
    assert no_traceback(client.stdout, client.stderr)
    talker.close()
