"""The server core in-process, over real loopback sockets."""

from __future__ import annotations

import queue
import socket
import threading
from typing import Callable, Iterator

import pytest
from harness import RawPeer, assert_one_total_order, joined_peer, run_concurrently

from tcpchat import events
from tcpchat.errors import ChatError
from tcpchat.guard import Limits
from tcpchat.server import ChatServer


class Recorder:
    """An observer that keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[events.Event] = queue.SimpleQueue()
        self.seen: list[events.Event] = []

    def __call__(self, event: events.Event) -> None:
        self.events.put(event)

    def drain(self) -> None:
        """Move every event received so far into :attr:`seen`."""
        while not self.events.empty():
            self.seen.append(self.events.get())

    def wait_for(self, kind: type, timeout: float = 10.0, **fields: object) -> events.Event:
        while True:
            event = self.events.get(timeout=timeout)
            self.seen.append(event)
            if isinstance(event, kind) and all(
                getattr(event, name) == value for name, value in fields.items()
            ):
                return event


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def chat_server(address: tuple[str, int], recorder: Recorder) -> Iterator[ChatServer]:
    server = ChatServer(*address, limits=Limits.unlimited())
    server.add_observer(recorder)
    server.start()
    yield server
    server.stop()


def server_threads() -> set[threading.Thread]:
    """The threads a server started: each carries a ``tcpchat-`` name."""
    return {t for t in threading.enumerate() if t.name.startswith("tcpchat-")}


def connect(server: ChatServer) -> RawPeer:
    return joined_peer(server.address)


def test_the_seeds_exchange_goes_both_ways(chat_server: ChatServer, recorder: Recorder) -> None:
    peer = connect(chat_server)
    chat_server.say("Hai client!")
    assert peer.expect_line("^Server: ") == "Server: Hai client!"
    peer.send_line("Halo server!")
    assert peer.expect_line("^Client: ") == "Client: Halo server!"
    assert recorder.wait_for(events.Message, nick="Client").text == "Halo server!"
    peer.close()


def test_three_clients_see_one_total_order_with_nothing_lost(chat_server: ChatServer) -> None:
    peers = [connect(chat_server) for _ in range(3)]
    for number, peer in enumerate(peers):
        peer.send_line(f"/nick p{number}")
    for peer in peers:
        peer.expect_line(r"^\* Client3 is now p2")

    texts = {f"p{n}": [f"p{n} {i}" for i in range(500)] for n in range(3)}

    def blast(peer: RawPeer, name: str) -> Callable[[], None]:
        return lambda: peer.send_bytes("".join(f"{t}\n" for t in texts[name]).encode())

    run_concurrently(*(blast(peer, f"p{n}") for n, peer in enumerate(peers)))
    assert_one_total_order([peer.inbox.wait_for_chat(1500, 20) for peer in peers], texts)
    for peer in peers:
        peer.close()


def test_a_client_that_never_reads_is_dropped_and_does_not_delay_the_others(
    address: tuple[str, int], recorder: Recorder
) -> None:
    # Roomy enough that the two healthy peers never lag that far, even on a busy machine.
    server = ChatServer(*address, max_backlog_bytes=512 * 1024, limits=Limits.unlimited())
    server.add_observer(recorder)
    server.start()
    try:
        sleeper = socket.socket()
        sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.connect(server.address)  # and never reads a byte
        talker, listener = connect(server), connect(server)
        payload = "x" * 1000
        sent = 0
        # Talk until the server gives up on the sleeper (the kernel's socket
        # buffers absorb the first few megabytes), but not forever.
        while not any(isinstance(e, events.Left) for e in recorder.seen) and sent < 50_000:
            talker.send_bytes(b"".join(f"{sent + i} {payload}\n".encode() for i in range(100)))
            sent += 100
            listener.expect_line(f"^Client2: {sent - 1} ")  # the others are not delayed
            recorder.drain()
        left = next(e for e in recorder.seen if isinstance(e, events.Left))
        assert left.nick == "Client"
        assert left.reason.startswith("too slow")
        # Awaited: the trim that dropped it logs the notice after the batch that set it off
        listener.inbox.wait_for(r"^\* Client left \(too slow", 15, 0)
        assert server._log_bytes() <= 2 * server.max_backlog_bytes
        sleeper.close()
        talker.close()
        listener.close()
    finally:
        server.stop()


def test_an_over_long_line_gets_an_error_notice_and_the_next_line_works(
    chat_server: ChatServer,
) -> None:
    peer = connect(chat_server)
    peer.send_bytes(b"y" * 100_000 + b"\nafter\n")
    assert "line too long" in peer.expect_line(r"^\* error: ")
    assert peer.expect_line("^Client: ") == "Client: after"
    peer.close()


def test_a_reset_mid_line_is_reported_as_a_leave(
    chat_server: ChatServer, recorder: Recorder
) -> None:
    witness = connect(chat_server)
    crasher = connect(chat_server)
    crasher.send_bytes(b"half a li")
    crasher.reset()
    left = recorder.wait_for(events.Left, nick="Client2")
    assert isinstance(left, events.Left)
    assert "reset" in left.reason
    witness.expect_line(r"^\* Client2 left \(connection reset")
    witness.close()


def test_three_hundred_clients_all_receive_a_broadcast(chat_server: ChatServer) -> None:
    peers = [RawPeer(*chat_server.address) for _ in range(300)]
    for peer in peers:
        peer.expect_line(r"^\* welcome")
    chat_server.say("everyone here?")
    for peer in peers:
        peer.expect_line("^Server: everyone here\\?$")
    for peer in peers:
        peer.close()


def test_a_full_server_says_so_and_closes(address: tuple[str, int]) -> None:
    with ChatServer(*address, max_clients=1) as server:
        first = connect(server)
        second = RawPeer(*server.address)
        assert "server full" in second.expect_line(r"^\* error: ")
        second.wait_closed()
        first.close()


def test_stop_says_goodbye_closes_everyone_and_leaves_no_thread(
    address: tuple[str, int], recorder: Recorder
) -> None:
    before = server_threads()  # only the threads a server names: not the test run's own
    server = ChatServer(*address)
    server.add_observer(recorder)
    server.start()
    peers = [connect(server) for _ in range(3)]
    server.stop()
    for peer in peers:
        peer.expect_line(r"^\* server shutting down$")
        peer.wait_closed()
        peer.close()
    recorder.wait_for(events.Stopped)
    assert server_threads() - before == set()


def test_quit_says_bye_and_hangs_up(chat_server: ChatServer) -> None:
    witness = connect(chat_server)
    quitter = connect(chat_server)
    quitter.send_line("/quit")
    quitter.expect_line(r"^\* bye$")
    quitter.wait_closed()
    witness.expect_line(r"^\* Client2 left \(quit\)$")
    assert chat_server.nicks() == ["Server", "Client"]
    quitter.close()
    witness.close()


def test_private_replies_keep_their_place_among_broadcasts(chat_server: ChatServer) -> None:
    peer = connect(chat_server)
    peer.send_bytes(b"one\n/who\ntwo\n")
    peer.expect_line("^Client: one$")
    peer.expect_line(r"^\* online: Server, Client$")
    peer.expect_line("^Client: two$")
    peer.close()


def test_a_used_address_is_a_clear_error(chat_server: ChatServer) -> None:
    host, port = chat_server.address
    with pytest.raises(ChatError, match=f"cannot listen on {host}:{port}: address already in use"):
        ChatServer(host, port).start()


def test_an_observer_that_fails_does_not_stop_the_server(
    chat_server: ChatServer, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: events.Event) -> None:
        raise RuntimeError("observer bug")

    chat_server.add_observer(broken)
    peer = connect(chat_server)
    peer.send_line("still here")
    peer.expect_line("^Client: still here$")
    recorder.wait_for(events.Message, text="still here")
    peer.close()
