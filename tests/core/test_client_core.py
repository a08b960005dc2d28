"""The client core against a real server core, over loopback."""

from __future__ import annotations

import queue
import socket
import threading
from typing import Iterator

import pytest

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError
from tcpchat.server import ChatServer


class Inbox:
    """Client events, waited for one kind at a time."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[events.Event] = queue.SimpleQueue()

    def __call__(self, event: events.Event) -> None:
        self.queue.put(event)

    def next(self, kind: type, timeout: float = 10.0) -> events.Event:
        while True:
            event = self.queue.get(timeout=timeout)
            if isinstance(event, kind):
                return event


@pytest.fixture
def chat_server(address: tuple[str, int]) -> Iterator[ChatServer]:
    with ChatServer(*address) as server:
        yield server


def make_client(server: ChatServer, nick: str | None = None) -> tuple[ChatClient, Inbox]:
    client = ChatClient(*server.address, nick=nick)
    inbox = Inbox()
    client.add_observer(inbox)
    client.connect()
    return client, inbox


def test_messages_flow_both_ways_and_own_messages_are_marked(chat_server: ChatServer) -> None:
    client, inbox = make_client(chat_server)
    inbox.next(events.Notice)  # welcome
    assert client.nick == "Client"
    client.send("Halo server!")
    message = inbox.next(events.Message)
    assert message == events.Message("Client", "Halo server!", own=True)
    chat_server.say("Hai client!")
    assert inbox.next(events.Message) == events.Message("Server", "Hai client!", own=False)
    client.close()


def test_requested_nick_is_taken_and_tracked_through_renames(chat_server: ChatServer) -> None:
    client, inbox = make_client(chat_server, nick="budi")
    while client.nick != "budi":
        inbox.next(events.Notice)
    client.send("/nick ani")
    while client.nick != "ani":
        inbox.next(events.Notice)
    client.send("hi")
    assert inbox.next(events.Message) == events.Message("ani", "hi", own=True)
    client.close()


def test_unreachable_server_is_a_clear_error(address: tuple[str, int]) -> None:
    client = ChatClient(*address)
    with pytest.raises(ChatError, match=f"cannot connect to {address[0]}:9000: connection refused"):
        client.connect()
    client.close()  # harmless on a client that never connected


def test_losing_the_server_is_an_event_and_sending_then_fails(address: tuple[str, int]) -> None:
    server = ChatServer(*address)
    server.start()
    client, inbox = make_client(server)
    inbox.next(events.Notice)  # welcome: the server has admitted us
    server.stop()
    while inbox.next(events.Notice) != events.Notice("server shutting down"):
        pass
    lost = inbox.next(events.Disconnected)
    assert isinstance(lost, events.Disconnected)
    assert not lost.expected
    with pytest.raises(ChatError, match="not connected"):
        client.send("anyone?")
    client.close()


def test_close_says_quit_and_joins_its_threads(chat_server: ChatServer) -> None:
    before = set(threading.enumerate())
    client, inbox = make_client(chat_server)
    inbox.next(events.Notice)
    client.close()
    closed = inbox.next(events.Disconnected)
    assert isinstance(closed, events.Disconnected)
    assert closed.expected
    client_threads = {t for t in threading.enumerate() if t.name.startswith("tcpchat-client")}
    assert client_threads - before == set()
    assert chat_server.nicks() == ["Server"]  # the server saw the /quit before hanging up


def test_a_message_longer_than_the_server_accepts_is_refused_before_sending(
    chat_server: ChatServer,
) -> None:
    client, _ = make_client(chat_server)
    with pytest.raises(ChatError, match="message too long"):
        client.send("x" * 5000)
    client.close()


def test_send_never_blocks_on_a_server_that_does_not_read(address: tuple[str, int]) -> None:
    with socket.create_server(address) as listener:
        client = ChatClient(*address)
        client.max_queued_bytes = 64 * 1024
        client.connect()
        peer, _ = listener.accept()

        def flood() -> None:
            for _ in range(10_000):  # far more than socket buffers and queue hold
                client.send("y" * 1000)

        with pytest.raises(ChatError, match="not reading"):
            flood()
        peer.close()
        client.close()


def test_a_waiting_send_is_held_back_until_the_server_reads(address: tuple[str, int]) -> None:
    """send(wait=True), the terminal client's stdin path: paced by the server, never refused."""
    lines, size = 2_000, 1000
    with socket.create_server(address) as listener:
        client = ChatClient(*address)
        client.max_queued_bytes = 64 * 1024  # far less than what is sent
        client.connect()
        peer, _ = listener.accept()
        sender = threading.Thread(
            target=lambda: [client.send(f"{n:05d}" + "y" * size, wait=True) for n in range(lines)]
        )
        sender.start()
        received = b""
        with peer:
            while received.count(b"\n") < lines + 1:  # the server reads only now: all of it arrives
                chunk = peer.recv(1 << 16)
                assert chunk, "the client hung up before sending everything"
                received += chunk
        sender.join()
        hello, _, received = received.partition(b"\n")  # a session's first line
        assert hello == b"/hello"
        numbers = [int(line[:5]) for line in received.split(b"\n")[:lines]]
        assert numbers == list(range(lines))  # none dropped, none doubled, in order
        client.close()


def test_multi_line_text_is_sent_as_separate_lines(chat_server: ChatServer) -> None:
    client, inbox = make_client(chat_server)
    client.send("one\r\ntwo")
    assert inbox.next(events.Message).text == "one"  # type: ignore[attr-defined]
    assert inbox.next(events.Message).text == "two"  # type: ignore[attr-defined]
    client.close()


def test_an_observer_that_raises_is_reported_and_does_not_stop_the_client(
    chat_server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: events.Event) -> None:
        if isinstance(event, events.Message):
            raise RuntimeError("observer bug")

    client = ChatClient(*chat_server.address)
    inbox = Inbox()
    client.add_observer(broken)
    client.add_observer(inbox)  # after the broken one: it must still hear everything
    with caplog.at_level("ERROR", logger="tcpchat.client"):
        client.connect()
        inbox.next(events.Notice)  # welcome
        chat_server.say("one")
        assert inbox.next(events.Message) == events.Message("Server", "one")
        chat_server.say("two")  # the reader survived the first failure
        assert inbox.next(events.Message) == events.Message("Server", "two")
        chat_server.stop()
        disconnected = inbox.next(events.Disconnected)
        assert isinstance(disconnected, events.Disconnected)
        assert not disconnected.expected
    client.close()
    failures = [r for r in caplog.records if "observer" in r.getMessage()]
    assert len(failures) == 1  # once per observer and kind of event, not once per event
    assert failures[0].exc_info is not None
    assert "observer bug" in str(failures[0].exc_info[1])
