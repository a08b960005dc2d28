"""In-process window tests: real Tk windows on Xvfb, real cores on loopback.

The test drives Tk's event loop itself (:func:`gui_helpers.pump_until`) and
waits for conditions, never for time.  Events "from another thread" really
come from another thread, as they do from the cores.
"""

from __future__ import annotations

import io
import socket
import threading
from typing import Callable, Iterator

import pytest
from gui_helpers import RecordingTk, pump_until
from harness import RawPeer

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.gui import i18n
from tcpchat.gui.base import ChatWindow, Status
from tcpchat.gui.client_window import ClientWindow
from tcpchat.gui.server_window import ServerWindow
from tcpchat.gui.transcript import Line
from tcpchat.server import ChatServer

pytestmark = pytest.mark.gui

MakeServerWindow = Callable[..., ServerWindow]
MakeClientWindow = Callable[..., ClientWindow]


@pytest.fixture
def make_server_window(
    tk_root: RecordingTk, address: tuple[str, int], console: io.StringIO
) -> Iterator[MakeServerWindow]:
    """Build a server window on this test's address; it is closed afterwards."""
    windows: list[ServerWindow] = []

    def make(start: bool = True, **options: object) -> ServerWindow:
        window = ServerWindow(tk_root, ChatServer(*address), console=console, **options)
        windows.append(window)
        if start:
            window.start()
            pump_until(tk_root, lambda: window.status is Status.LISTENING, "listening")
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def make_client_window(
    tk_root: RecordingTk, address: tuple[str, int], console: io.StringIO
) -> Iterator[MakeClientWindow]:
    windows: list[ClientWindow] = []

    def make(**options: object) -> ClientWindow:
        window = ClientWindow(tk_root, *address, console=console, **options)  # type: ignore[arg-type]
        windows.append(window)
        window.start()
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def core_server(address: tuple[str, int]) -> Iterator[ChatServer]:
    """A server core (no window) on this test's address, for the client window."""
    server = ChatServer(*address)
    server.start()
    yield server
    server.stop()


def type_and_return(window: ServerWindow | ClientWindow, text: str) -> None:
    """Type *text* and press Return, the keyboard going where Tk's focus is."""
    root = window.root
    pump_until(root, root.winfo_viewable, "the window to be shown")
    window.entry.focus_force()  # no window manager on Xvfb gives us the keyboard
    pump_until(root, lambda: str(root.focus_get()) == str(window.entry), "keyboard focus")
    window.entry.insert("end", text)
    window.entry.event_generate("<Return>")


def tags_at(window: ServerWindow | ClientWindow, line_end: str, word: str) -> set[str]:
    """The Text tags on *word* in the last transcript line with it that ends in *line_end*."""
    lines = window.transcript.lines()
    number = max(n for n, line in enumerate(lines, 1) if line.endswith(line_end) and word in line)
    column = lines[number - 1].index(word, 10)  # past the timestamp
    return set(window.transcript.text.tag_names(f"{number}.{column}"))


def transcript_has(window: ServerWindow | ClientWindow, text: str) -> Callable[[], bool]:
    return lambda: any(line.endswith(text) for line in window.transcript.lines())


# -- typing and sending ---------------------------------------------------------------


def test_return_sends_as_operator_and_clears_the_entry(
    make_server_window: MakeServerWindow, raw_peer: Callable[..., RawPeer], tk_root: RecordingTk
) -> None:
    window = make_server_window()
    peer = raw_peer()
    pump_until(tk_root, lambda: window.roster_nicks == ["Server", "Client"], "the peer online")
    assert str(tk_root.focus_lastfor()) == str(window.entry)

    type_and_return(window, "Hai client!")

    assert window.entry.get() == ""
    assert peer.expect_line(r"^Server: ") == "Server: Hai client!"
    pump_until(tk_root, transcript_has(window, "Server: Hai client!"), "our line shown")
    assert {"own", "speaker"} <= tags_at(window, "Server: Hai client!", "Server")
    assert str(tk_root.focus_lastfor()) == str(window.entry)


def test_send_button_sends_and_blank_lines_are_not_sent(
    make_server_window: MakeServerWindow, raw_peer: Callable[..., RawPeer], tk_root: RecordingTk
) -> None:
    window = make_server_window()
    peer = raw_peer()
    peer.expect_line(r"^\* Client joined$")  # in the room: it will hear what is said
    window.entry.insert("end", "   ")
    window.send_button.invoke()
    window.entry.delete(0, "end")
    window.entry.insert("end", "second")
    window.send_button.invoke()
    assert peer.expect_line(r"^Server: ") == "Server: second"
    assert window.entry.get() == ""


def test_others_messages_are_shown_in_their_own_style(
    make_server_window: MakeServerWindow, raw_peer: Callable[..., RawPeer], tk_root: RecordingTk
) -> None:
    window = make_server_window()
    peer = raw_peer()
    peer.send_line("Halo server!")
    pump_until(tk_root, transcript_has(window, "Client: Halo server!"), "the peer's line")
    assert {"others", "speaker"} <= tags_at(window, "Client: Halo server!", "Client")
    assert "speaker" not in tags_at(window, "Client: Halo server!", "Halo")
    assert any("* Client joined from" in line for line in window.transcript.lines())
    assert "notice" in tags_at(window, "", "joined")


# -- the thread rule: events from other threads ---------------------------------------


def post_from_thread(window: ServerWindow | ClientWindow, count: int) -> None:
    def post_all() -> None:
        for number in range(count):
            window.post(events.Message("peer", f"line {number}"))

    poster = threading.Thread(target=post_all)
    poster.start()
    poster.join()


def test_events_posted_from_another_thread_appear_in_order(
    make_server_window: MakeServerWindow,
    tk_root: RecordingTk,
    console: io.StringIO,
    address: tuple[str, int],
) -> None:
    window = make_server_window()
    post_from_thread(window, 500)
    pump_until(tk_root, transcript_has(window, "peer: line 499"), "the last line")
    shown = [line.split("  ", 1)[1] for line in window.transcript.lines()]
    assert shown == [f"* listening on {address[0]}:{address[1]}"] + [
        f"peer: line {number}" for number in range(500)
    ]
    logged = [line.split("] ", 1)[1] for line in console.getvalue().splitlines()]
    assert logged == shown


def test_a_flood_keeps_the_transcript_bounded(
    make_server_window: MakeServerWindow, tk_root: RecordingTk
) -> None:
    window = make_server_window(max_lines=100)
    post_from_thread(window, 5000)
    pump_until(tk_root, transcript_has(window, "peer: line 4999"), "the last line")
    assert window.transcript.line_count() == 100
    assert window.transcript.lines()[0].endswith("peer: line 4900")


def test_a_flood_faster_than_the_window_costs_bounded_memory_and_is_reported(
    make_server_window: MakeServerWindow, tk_root: RecordingTk
) -> None:
    window = make_server_window(start=False, max_lines=100)
    window.max_waiting = 1000
    post_from_thread(window, 5000)  # before the first tick: nothing drains meanwhile
    assert window._inbox.qsize() == 1000
    window.post(events.Notice("still kept"))  # notices are never skipped
    window.start()
    pump_until(
        tk_root,
        transcript_has(window, "4000 messages not shown: the window fell behind"),
        "the skip notice",
    )
    pump_until(tk_root, transcript_has(window, "still kept"), "the notice")
    assert transcript_has(window, "peer: line 999")()
    assert not transcript_has(window, "peer: line 1000")()


def test_each_tick_renders_a_bounded_batch(
    make_server_window: MakeServerWindow, tk_root: RecordingTk
) -> None:
    window = make_server_window(start=False, max_lines=10 * ChatWindow.batch_limit)
    batches: list[int] = []
    add = window.transcript.add

    def counting_add(lines: list[Line]) -> None:
        batches.append(len(lines))
        add(lines)

    window.transcript.add = counting_add  # type: ignore[method-assign]
    total = 3 * window.batch_limit + 1
    post_from_thread(window, total)
    window.start()
    pump_until(tk_root, transcript_has(window, f"peer: line {total - 1}"), "every line")
    assert max(batches) == window.batch_limit
    assert sum(batches) >= total


def test_a_backlog_longer_than_the_transcript_is_not_all_drawn(
    make_server_window: MakeServerWindow, tk_root: RecordingTk, console: io.StringIO
) -> None:
    window = make_server_window(start=False, max_lines=100)
    drawn: list[str] = []
    add = window.transcript.add

    def counting_add(lines: list[Line]) -> None:
        drawn.extend(line.text for line in lines)
        add(lines)

    window.transcript.add = counting_add  # type: ignore[method-assign]
    post_from_thread(window, 5000)
    window.start()
    pump_until(tk_root, transcript_has(window, "peer: line 4999"), "the last line")
    assert len(drawn) < 5000  # what would have scrolled away at once was skipped
    assert [line.split("  ", 1)[1] for line in window.transcript.lines()][-100:] == drawn[-100:]
    assert console.getvalue().count("] peer: line ") == 5000  # but every line is logged


# -- status, roster and closing -----------------------------------------------------------


def test_server_status_title_and_roster_follow_the_room(
    make_server_window: MakeServerWindow,
    raw_peer: Callable[..., RawPeer],
    tk_root: RecordingTk,
    address: tuple[str, int],
) -> None:
    window = make_server_window()
    where = f"{address[0]}:{address[1]}"
    assert tk_root.title() == f"tcpchat server — {where}"
    assert window.status_text == f"Listening on {where}"
    peer = raw_peer()
    pump_until(tk_root, lambda: window.roster_nicks == ["Server", "Client"], "Client online")
    peer.send_line("/nick budi")
    pump_until(tk_root, lambda: window.roster_nicks == ["Server", "budi"], "the rename")
    peer.send_line("/quit")
    pump_until(tk_root, lambda: window.roster_nicks == ["Server"], "budi gone")
    assert window._roster_title.cget("text") == "Online (1)"


def test_closing_the_server_window_is_clean(
    make_server_window: MakeServerWindow,
    raw_peer: Callable[..., RawPeer],
    tk_root: RecordingTk,
    console: io.StringIO,
) -> None:
    window = make_server_window()
    peer = raw_peer()
    pump_until(tk_root, lambda: len(window.roster_nicks) == 2, "the peer online")
    tk_root.tk.call(tk_root.protocol("WM_DELETE_WINDOW"))  # what the close box does
    assert window.closed
    peer.expect_line(r"^\* server shutting down$")
    peer.wait_closed()
    assert console.getvalue().rstrip().endswith("* server stopped")
    # tk_root's teardown checks that no tcpchat thread is left


def test_request_close_closes_at_the_next_tick(
    make_server_window: MakeServerWindow, tk_root: RecordingTk
) -> None:
    window = make_server_window()
    threading.Thread(target=window.request_close).start()
    pump_until(tk_root, lambda: window.closed, "the window to close")


def test_server_window_speaks_indonesian(
    tk_root: RecordingTk, make_server_window: MakeServerWindow
) -> None:
    i18n.set_language("id")
    window = make_server_window()
    assert window.send_button.cget("text") == "Kirim"
    assert window.status_text.startswith("Mendengarkan di ")


# -- the client window ----------------------------------------------------------------


def test_client_connects_at_start_and_chats(
    core_server: ChatServer, make_client_window: MakeClientWindow, tk_root: RecordingTk
) -> None:
    window = make_client_window(nick="gui")
    pump_until(tk_root, lambda: "as gui" in window.status_text, "connected as gui")
    assert window.status is Status.CONNECTED
    assert window.can_send
    assert not window.reconnect_button.winfo_ismapped()
    type_and_return(window, "Halo server!")
    pump_until(tk_root, transcript_has(window, "gui: Halo server!"), "our line back")
    assert "own" in tags_at(window, "gui: Halo server!", "Halo")


def test_unreachable_server_shows_error_then_reconnect_works(
    make_client_window: MakeClientWindow, tk_root: RecordingTk, address: tuple[str, int]
) -> None:
    window = make_client_window()
    pump_until(tk_root, lambda: window.status is Status.ERROR, "the error status")
    assert "connection refused" in window.status_text
    assert any("* error: cannot connect to" in line for line in window.transcript.lines())
    pump_until(tk_root, window.reconnect_button.winfo_ismapped, "the Reconnect button")
    type_and_return(window, "kept")
    assert window.entry.get() == "kept"  # Return does nothing while disconnected

    with ChatServer(*address):
        window.reconnect_button.invoke()
        pump_until(tk_root, lambda: window.status is Status.CONNECTED, "connected")
        assert window.can_send
        window.close()


def test_losing_the_server_disables_send(
    make_client_window: MakeClientWindow, tk_root: RecordingTk, address: tuple[str, int]
) -> None:
    server = ChatServer(*address)
    server.start()
    window = make_client_window()
    pump_until(tk_root, lambda: window.status is Status.CONNECTED, "connected")
    # In the room (welcomed), not only connected: else the stop may meet it at the door.
    welcomed = lambda: any("* welcome, you are" in line for line in window.transcript.lines())  # noqa: E731
    pump_until(tk_root, welcomed, "the welcome")
    server.stop()
    pump_until(tk_root, lambda: window.status is Status.DISCONNECTED, "disconnected")
    assert window.status_text.startswith("Disconnected: server shutting down")  # as announced
    assert not window.can_send
    pump_until(tk_root, window.reconnect_button.winfo_ismapped, "the Reconnect button")


def test_reconnect_option_retries_until_the_server_is_back(
    make_client_window: MakeClientWindow,
    tk_root: RecordingTk,
    address: tuple[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ClientWindow, "retry_delays", (0.05,))
    window = make_client_window(reconnect=True)
    pump_until(tk_root, lambda: "retrying in 0.05 s" in window.status_text, "a retry")
    with ChatServer(*address):
        pump_until(tk_root, lambda: window.status is Status.CONNECTED, "reconnected")
        window.close()


def test_a_refused_password_is_shown_and_not_retried(
    tk_root: RecordingTk,
    address: tuple[str, int],
    console: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ClientWindow, "retry_delays", (0.05,))
    with socket.create_server(address) as listener:
        window = ClientWindow(
            tk_root,
            *address,
            reconnect=True,
            new_client=lambda nick: ChatClient(*address, nick=nick, password="guess"),
            console=console,
        )
        window.start()
        connection, _ = listener.accept()
        with connection, connection.makefile("rb") as lines:
            assert lines.readline() == b"/pass guess\n"
            connection.sendall(b"* error: wrong password; closing\n")
        pump_until(tk_root, lambda: window.status is Status.DISCONNECTED, "the refusal")
        assert "refused: wrong password" in window.status_text
        assert "retrying" not in window.status_text
        window.close()


def test_closing_the_client_window_says_quit(
    tk_root: RecordingTk, address: tuple[str, int], console: io.StringIO
) -> None:
    received: list[str] = []
    with socket.create_server(address) as listener:
        window = ClientWindow(tk_root, *address, nick="gui", console=console)
        window.start()
        pump_until(tk_root, lambda: window.status is Status.CONNECTED, "connected")
        connection, _ = listener.accept()

        def fake_server() -> None:
            with connection, connection.makefile("r", encoding="utf-8") as lines:
                for line in lines:
                    received.append(line.rstrip("\n"))
                    if line.startswith("/quit"):
                        break  # and hang up, as a server does

        server = threading.Thread(target=fake_server)
        server.start()
        window.close()
        server.join()
    assert received == ["/hello gui", "/quit"]  # a session opens with /hello


def test_a_refused_send_keeps_the_text_and_says_why(
    core_server: ChatServer, make_client_window: MakeClientWindow, tk_root: RecordingTk
) -> None:
    window = make_client_window()
    pump_until(tk_root, lambda: window.status is Status.CONNECTED, "connected")
    too_long = "x" * 5000
    type_and_return(window, too_long)
    assert window.entry.get() == too_long
    pump_until(tk_root, transcript_has(window, "not sent"), "the error line")
