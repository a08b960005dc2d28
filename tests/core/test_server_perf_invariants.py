"""The server's fast paths keep the guarantees of the simple design.

The server sends to caught-up clients from one fan-out thread (or, for a
small chat, from the reader that received the line) with non-blocking sends,
and hands a client over to its own writer thread only when its socket is
full.  These tests pin down what must not change with that: nothing lost or
reordered across the hand-over, private replies in their place, events in
order, and one thread per client that keeps up.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

import pytest
from harness import RawPeer

from tcpchat import events
from tcpchat.guard import Limits
from tcpchat.server import ChatServer, delivery
from tcpchat.server.delivery import Delivery


def connect(chat: ChatServer) -> RawPeer:
    peer = RawPeer(*chat.address)
    peer.expect_line(r"^\* welcome, you are ")
    return peer


def test_a_slow_reader_is_handed_to_its_writer_and_back_without_loss(
    address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    handed_over: list[int] = []
    send_some = delivery.send_some

    def spy(sock: socket.socket, data: bytes) -> tuple[bytes, OSError | None]:
        left, error = send_some(sock, data)
        if left:
            handed_over.append(len(left))
        return left, error

    monkeypatch.setattr(delivery, "send_some", spy)
    with ChatServer(
        *address, max_backlog_bytes=32 * 1024 * 1024, limits=Limits.unlimited()
    ) as chat:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(chat.address)
        talker = connect(chat)
        talker.send_line("/nick talker")
        talker.expect_line(r"^\* Client2 is now talker$")
        payload = "y" * 1000
        lines = [f"{n} {payload}" for n in range(8000)]  # 8 MB: more than socket buffers hold
        talker.send_bytes("".join(f"{line}\n" for line in lines).encode())
        talker.expect_line(f"^talker: 7999 {payload}$")
        slow.settimeout(10)
        received = _read_until(slow, f"talker: 7999 {payload}\n".encode())
        chat_lines = [line for line in received.decode().splitlines() if line.startswith("talker")]
        assert chat_lines == [f"talker: {line}" for line in lines]
        talker.send_line("after the backlog")  # served by the fan-out again
        _read_until(slow, b"talker: after the backlog\n")
        assert handed_over, "the slow client's socket never filled up"
        slow.close()
        talker.close()


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    """Everything *sock* receives until *end* has come."""
    chunks: list[bytes] = []
    tail = b""
    while end not in tail:
        chunk = sock.recv(1 << 20)
        assert chunk, "closed early"
        chunks.append(chunk)
        tail = (tail + chunk)[-2 * len(end) :]
    return b"".join(chunks)


def test_private_replies_keep_their_place_in_a_crowd(address: tuple[str, int]) -> None:
    with ChatServer(*address) as chat:
        crowd = [connect(chat) for _ in range(Delivery.small_fanout + 3)]
        asker = crowd[0]
        asker.send_bytes(b"one\n/who\ntwo\n")
        asker.expect_line("^Client: one$")
        asker.expect_line(r"^\* online: Server, Client, Client2")
        asker.expect_line("^Client: two$")
        for peer in crowd[1:]:
            peer.expect_line("^Client: one$")
            peer.expect_line("^Client: two$")
            assert not any(line.startswith("* online") for line in peer.lines)
        for peer in crowd:
            peer.close()


def test_observers_get_every_event_in_order_despite_batching(address: tuple[str, int]) -> None:
    seen: list[events.Event] = []
    done = threading.Event()

    def observe(event: events.Event) -> None:
        seen.append(event)
        if isinstance(event, events.Message) and event.text == "499":
            done.set()

    with ChatServer(*address, limits=Limits.unlimited()) as chat:
        chat.add_observer(observe)
        peer = connect(chat)
        peer.send_bytes(b"".join(b"%d\n" % n for n in range(500)))
        assert done.wait(10)
        texts = [e.text for e in seen if isinstance(e, events.Message)]
        assert texts == [str(n) for n in range(500)]
        peer.close()


def test_a_client_that_keeps_up_costs_one_thread(address: tuple[str, int]) -> None:
    before = set(threading.enumerate())  # not a count: earlier tests' threads may end meanwhile
    with ChatServer(*address) as chat:
        peers = [connect(chat) for _ in range(20)]
        peers[-1].send_line("all here")
        for peer in peers:
            peer.expect_line("^Client20: all here$")
        # accept, fan-out and event threads, and a reader per client (no writer:
        # nobody fell behind); the peers' own reader threads count too, one each
        assert len(set(threading.enumerate()) - before) == 3 + len(peers) + len(peers)
        for peer in peers:
            peer.close()


def test_a_socket_that_cannot_skip_blocking_leaves_everything_to_its_writer() -> None:
    class Wrapped(socket.socket):
        """Stands for a TLS socket: not a plain socket, so no MSG_DONTWAIT."""

    left, right = socket.socketpair()
    wrapped = Wrapped(fileno=left.detach())
    try:
        assert delivery.send_some(wrapped, b"line\n") == (b"line\n", None)
        assert delivery.send_some(right, b"line\n") == (b"", None)
    finally:
        wrapped.close()
        right.close()


def test_clients_coming_and_going_during_a_flood_leave_no_thread(
    address: tuple[str, int],
) -> None:
    """Quits, closes and resets while lines fly: every hand-over path, then a clean stop."""
    before = set(threading.enumerate())

    class QuickToHangUp(ChatServer):
        linger_seconds = 0.2  # the slow drainers never close: do not wait long for them

    chat = QuickToHangUp(*address, max_backlog_bytes=128 * 1024)
    chat.start()
    stop_at = time.monotonic() + 1.5
    peers: list[socket.socket] = []

    def drain(sock: socket.socket, slow: bool) -> None:
        sock.settimeout(0.1)
        with contextlib.suppress(OSError):
            while time.monotonic() < stop_at:
                with contextlib.suppress(socket.timeout):
                    if slow:
                        time.sleep(0.02)  # falls behind: its writer takes over, or it is dropped
                    if not sock.recv(512 if slow else 65536):
                        return

    def join(number: int) -> None:
        sock = socket.create_connection(chat.address)
        peers.append(sock)
        threading.Thread(target=drain, args=(sock, number % 5 == 0), daemon=True).start()

    for number in range(30):
        join(number)
    flood = b"".join(b"line %d of a flood, long enough to fill buffers\n" % n for n in range(200))
    number = 30
    while time.monotonic() < stop_at:
        with contextlib.suppress(OSError):
            peers[1].sendall(flood)
            victim = peers[2 + number % (len(peers) - 2)]
            if number % 3 == 0:
                victim.sendall(b"/quit\n")
            elif number % 3 == 1:  # reset: close at once, unread data and all
                victim.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                victim.close()
            else:
                victim.close()
        join(number)
        chat.say(f"operator {number}")
        number += 1
    chat.stop()
    for sock in peers:
        sock.close()
    assert not [t for t in set(threading.enumerate()) - before if t.name.startswith("tcpchat")]
