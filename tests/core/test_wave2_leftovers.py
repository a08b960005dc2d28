"""Leftovers of the lifecycle wave: a door seat given back, a drain bounded, reasons clipped."""

from __future__ import annotations

import socket
import threading

import pytest
from harness import RawPeer, joined_peer

from tcpchat import protocol
from tcpchat.guard import Limits
from tcpchat.server import ChatServer, door, writer


def test_a_gate_thread_that_cannot_start_gives_its_address_seat_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_start = door.start_thread
    failed = threading.Event()

    def start_once_fails(*args: object, **kwargs: object) -> threading.Thread:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("can't start new thread")
        return real_start(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(door, "start_thread", start_once_fails)
    limits = Limits(max_connections_per_address=1, limit_loopback=True)
    with ChatServer("127.0.0.1", 0, limits=limits, password="secret") as server:
        first = RawPeer(*server.address)
        first.wait_closed()  # its gate could not start: closed, its seat given back
        assert failed.is_set()
        second = RawPeer(*server.address)
        assert second.expect_line(r"^\* ") == "* " + protocol.PASSWORD_PROMPT
        for peer in (first, second):
            peer.close()


class _ShortLinger(ChatServer):
    linger_seconds = 0.5


@pytest.mark.parametrize("writer_wakes_reader", [True, False])
def test_a_peer_that_keeps_sending_after_quit_is_hung_up_on_after_the_goodbye(
    writer_wakes_reader: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not writer_wakes_reader:  # fault injection: the writer's SHUT_RDWR wakes nobody
        real_shutdown = writer.shutdown

        def half_only(sock: socket.socket, how: int) -> None:
            if how != socket.SHUT_RDWR:
                real_shutdown(sock, how)

        monkeypatch.setattr(writer, "shutdown", half_only)
    with _ShortLinger("127.0.0.1", 0, limits=Limits.unlimited()) as server:
        peer = joined_peer(server.address)
        peer.send_line("/quit")
        peer.expect_line(r"^\* bye$")
        stopped = threading.Event()

        def keep_sending() -> None:
            try:
                while True:  # the server's reader drains this until it hangs up
                    peer.sock.sendall(b"still here\n" * 100)
            except OSError:
                stopped.set()

        sender = threading.Thread(target=keep_sending, daemon=True)
        sender.start()
        assert stopped.wait(30), "the server kept draining a peer past the goodbye deadline"
        peer.close()


def test_a_kick_reason_is_clipped_so_the_closing_line_stays_under_the_limit() -> None:
    with ChatServer("127.0.0.1", 0) as server:
        peer = joined_peer(server.address)
        nick = server.nicks()[-1]
        assert server.kick(nick, "x" * 10_000)
        line = peer.expect_line(r"^\* error: ")
        assert line.endswith("…; closing")
        assert len(line.encode()) + 1 <= protocol.MAX_SERVER_LINE_BYTES
        assert len(protocol.CLOSING.parse(line[2:])["reason"].encode()) == 256  # type: ignore[index]
        peer.close()
