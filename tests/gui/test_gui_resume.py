"""The client window resumes through a cut: history dimmed, missed lines shown, nothing doubled.

A real server core on loopback, the window connected to it through a
:class:`TcpProxy` that resets the connection on demand (Xvfb for the
window).  The screenshot of the end state is saved with the test's
artifacts for a person to look at.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Iterator

import pytest
from gui_helpers import RecordingTk, pump_until, screenshot
from harness import RawPeer
from tcp_proxy import TcpProxy

from tcpchat.gui.base import Status
from tcpchat.gui.client_window import ClientWindow
from tcpchat.server import ChatServer

pytestmark = pytest.mark.gui


@pytest.fixture
def proxied_server(address: tuple[str, int]) -> Iterator[TcpProxy]:
    server = ChatServer(*address)
    server.start()
    with TcpProxy(address) as proxy:
        yield proxy
    server.stop()


def shown(window: ClientWindow, text: str) -> Callable[[], bool]:
    return lambda: any(line.endswith(text) for line in window.transcript.lines())


def count(window: ClientWindow, text: str) -> int:
    return sum(line.endswith(text) for line in window.transcript.lines())


def tags_of(window: ClientWindow, text: str) -> set[str]:
    lines = window.transcript.lines()
    number = next(n for n, line in enumerate(lines, 1) if line.endswith(text))
    column = lines[number - 1].index(text)
    return set(window.transcript.text.tag_names(f"{number}.{column + len(text) - 1}"))


def test_the_window_resumes_through_a_cut_with_history_dimmed_and_nothing_doubled(
    proxied_server: TcpProxy,
    address: tuple[str, int],
    *,
    tk_root: RecordingTk,
    monkeypatch: pytest.MonkeyPatch,
    artifacts_dir: Path,
    console: io.StringIO,
) -> None:
    monkeypatch.setattr(ClientWindow, "retry_delays", (0.05,))
    alice = RawPeer(*address)
    alice.expect_line(r"^\* welcome")
    alice.send_line("/nick Alice")
    alice.send_line("said before you came")
    alice.expect_line(r"^Alice: said before you came$")

    window = ClientWindow(
        tk_root, *proxied_server.address, nick="Win", reconnect=True, console=console
    )
    window.start()
    try:
        pump_until(tk_root, lambda: "as Win" in window.status_text, "connected as Win")
        pump_until(tk_root, shown(window, "Alice: said before you came"), "the history")
        assert "history" in tags_of(window, "Alice: said before you came")
        alice.send_line("live before the cut")
        pump_until(tk_root, shown(window, "Alice: live before the cut"), "live chat")
        assert "history" not in tags_of(window, "Alice: live before the cut")

        proxied_server.refuse()  # stay away until the line below is typed
        proxied_server.cut()
        pump_until(tk_root, lambda: window.status is not Status.CONNECTED, "the cut")
        alice.send_line("said while you were away")
        alice.expect_line(r"^Alice: said while you were away$")
        window.entry.insert("end", "typed while away")
        window.send_button.invoke()
        pump_until(tk_root, shown(window, "typed while away"), "the pending line")
        assert "pending" in tags_of(window, "typed while away")
        proxied_server.accept()

        pump_until(tk_root, shown(window, "Win: typed while away"), "the pending line sent")
        pump_until(tk_root, shown(window, "Alice: said while you were away"), "the missed line")
        alice.expect_line(r"^Win: typed while away$")
        assert window.status is Status.CONNECTED
        for line in (
            "Alice: said before you came",
            "Alice: live before the cut",
            "Alice: said while you were away",
            "Win: typed while away",
        ):
            assert count(window, line) == 1, f"{line!r} shown {count(window, line)} times"
        # The resume was silent for the others: one join, no leave.
        assert sum(line == "* Win joined" for line in alice.lines) == 1
        assert not any(line.startswith("* Win left") for line in alice.lines)
        window.root.update()
        screenshot(artifacts_dir / "resumed-window.png")
    finally:
        window.close()
