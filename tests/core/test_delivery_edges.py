"""Delivery edges the mutation run found untested (issue 16).

A private reply to a connection nobody else is talking to (nothing else would
wake the fan-out for it), and a client that says /quit but never closes its end:
its threads must still end after the linger, not wait for it forever.
Thread names come from the server (``tcpchat-writer 127.0.0.1:PORT``).
"""

from __future__ import annotations

import threading

import pytest
from harness import joined_peer

from tcpchat.guard import Limits
from tcpchat.server import ChatServer


@pytest.mark.parametrize("idle_others", [0, 6])
def test_a_reply_reaches_an_idle_connection_with_nothing_else_going_on(
    address: tuple[str, int], idle_others: int
) -> None:
    server = ChatServer(*address, limits=Limits.unlimited())
    server.start()
    try:
        others = [joined_peer(server.address) for _ in range(idle_others)]
        asker = joined_peer(server.address)
        for _ in range(3):  # each reply on its own, when every connection is idle
            asker.send_line("/who")
            assert asker.expect_line(r"^\* online: ", timeout=5).startswith("* online: Server, ")
            asker.send_line("/help")
            assert asker.expect_line(r"^\* commands: ", timeout=5)
        for peer in [*others, asker]:
            peer.close()
    finally:
        server.stop()


def test_a_client_that_quits_but_never_closes_holds_no_thread_past_the_linger(
    address: tuple[str, int],
) -> None:
    server = ChatServer(*address, limits=Limits.unlimited())
    server.start()
    try:
        peer = joined_peer(server.address)
        port = peer.sock.getsockname()[1]
        peer.send_line("/quit")
        assert peer.expect_line(r"^\* bye$")
        peer.wait_closed()  # the server half-closed; this end stays open and says nothing

        # Its reader and the writer that sent "* bye" (running since it did).
        threads = [t for t in threading.enumerate() if t.name.endswith(f":{port}")]
        # The writer is lingering for this end to close (it will not): named as the server names it.
        assert f"tcpchat-writer 127.0.0.1:{port}" in [t.name for t in threads], threads
        for thread in threads:
            thread.join(server.linger_seconds + 5)
        assert [t.name for t in threads if t.is_alive()] == []
        peer.close()
    finally:
        server.stop()
