"""The server window's operator commands and the windows' notices in their language
(issue 14 items 7 and 8): real windows on Xvfb, real cores on loopback, raw peers."""

from __future__ import annotations

import io
import re
from typing import Callable, Iterator

import pytest
from gui_helpers import RecordingTk, pump_until
from harness import RawPeer, joined_peer

from tcpchat.gui import i18n
from tcpchat.gui.base import Status
from tcpchat.gui.client_window import ClientWindow
from tcpchat.gui.server_window import ServerWindow
from tcpchat.server import ChatServer

pytestmark = pytest.mark.gui


@pytest.fixture
def server_window(
    tk_root: RecordingTk, address: tuple[str, int], console: io.StringIO
) -> Iterator[ServerWindow]:
    window = ServerWindow(tk_root, ChatServer(*address), console=console)
    window.start()
    pump_until(tk_root, lambda: window.status is Status.LISTENING, "listening")
    yield window
    window.close()


def type_and_return(window: ServerWindow | ClientWindow, text: str) -> None:
    root = window.root
    pump_until(root, root.winfo_viewable, "the window to be shown")
    window.entry.focus_force()  # no window manager on Xvfb gives us the keyboard
    pump_until(root, lambda: str(root.focus_get()) == str(window.entry), "keyboard focus")
    window.entry.delete(0, "end")
    window.entry.insert("end", text)
    window.entry.event_generate("<Return>")


def shows(window: ServerWindow | ClientWindow, text: str) -> Callable[[], bool]:
    return lambda: any(line.endswith(text) for line in window.transcript.lines())


def test_operator_commands_in_the_server_window(
    server_window: ServerWindow,
    tk_root: RecordingTk,
    address: tuple[str, int],
    console: io.StringIO,
) -> None:
    peer = joined_peer(address)
    pump_until(tk_root, lambda: server_window.roster_nicks == ["Server", "Client"], "the peer")

    type_and_return(server_window, "/who")
    pump_until(tk_root, shows(server_window, "* online: Server, Client"), "the /who reply")
    assert server_window.entry.get() == ""

    type_and_return(server_window, "/whoo")
    refused = "* error: unknown command /whoo, not sent; type /help for the commands, or // "
    pump_until(tk_root, lambda: refused in server_window.transcript.lines()[-1], "the refusal")
    assert server_window.entry.get() == "/whoo"  # kept, to be fixed

    type_and_return(server_window, "//shrug")
    assert peer.expect_line(r"^Server: ") == "Server: /shrug"  # the first chat it gets

    type_and_return(server_window, "/kick Client")
    assert peer.expect_line(r"^\* error: ") == "* error: kicked by the operator; closing"
    peer.wait_closed()
    pump_until(tk_root, lambda: server_window.roster_nicks == ["Server"], "the peer gone")
    assert not [line for line in peer.lines if line.startswith("Server: /") and "shrug" not in line]
    assert "* online: Server, Client" in console.getvalue()  # the console logs replies too

    type_and_return(server_window, "/quit")
    pump_until(tk_root, lambda: server_window.closed, "the window to close")


def test_a_client_window_in_indonesian_shows_the_notices_in_indonesian(
    tk_root: RecordingTk, address: tuple[str, int], console: io.StringIO
) -> None:
    i18n.set_language("id")
    with ChatServer(*address):
        window = ClientWindow(tk_root, *address, console=console)
        window.start()
        try:
            pump_until(tk_root, lambda: window.status is Status.CONNECTED, "connected")
            welcome = "* selamat datang, Anda adalah Client; ketik /help untuk daftar perintah"
            pump_until(tk_root, shows(window, welcome), "the welcome in Indonesian")
            assert any(
                line.endswith(f"* terhubung ke {address[0]}:9000")
                for line in window.transcript.lines()
            )
            other: RawPeer = joined_peer(address)
            pump_until(tk_root, shows(window, "* Client2 bergabung"), "the joined notice")
            other.send_line("/nick Budi")
            pump_until(tk_root, shows(window, "* Client2 sekarang bernama Budi"), "the rename")
            other.send_line("halo")  # chat is never translated
            pump_until(tk_root, shows(window, "Budi: halo"), "the chat line")
            other.close()
            departed = "* Budi meninggalkan obrolan (sambungan ditutup)"
            pump_until(tk_root, shows(window, departed), "the departure, reason and all")
            english = console.getvalue()  # the console keeps the words as sent
            assert "* welcome, you are Client; type /help for the commands" in english
            assert "* Client2 joined" in english
        finally:
            window.close()


def test_a_server_window_in_indonesian_shows_its_own_notices_in_indonesian(
    tk_root: RecordingTk, address: tuple[str, int], console: io.StringIO
) -> None:
    i18n.set_language("id")
    window = ServerWindow(tk_root, ChatServer(*address), console=console)
    window.start()
    try:
        pump_until(tk_root, shows(window, f"* mendengarkan di {address[0]}:9000"), "listening")
        peer = joined_peer(address)
        arrived = re.compile(r"\* Client bergabung dari 127\.[\d.]+:\d+$")
        pump_until(
            tk_root,
            lambda: any(arrived.search(line) for line in window.transcript.lines()),
            "the arrival",
        )
        type_and_return(window, "/who")
        pump_until(tk_root, shows(window, "* daring: Server, Client"), "the /who reply")
        peer.close()
    finally:
        window.close()
