"""The client core against bare servers that misbehave (issue 15, items 7 and 15).

The "servers" are plain listening sockets on loopback: one that never reads,
one that sends lines longer than the client accepts.
"""

from __future__ import annotations

import socket
import threading
from typing import Iterator

import pytest

from tcpchat import events, protocol
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError

WAIT = 30.0  # for what should happen within close_timeout: only a hang reaches it


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.settimeout(WAIT)
        yield sock


def test_close_returns_when_the_server_stopped_reading(listener: socket.socket) -> None:
    """Item 7: close() waits close_timeout for the writer, then shuts the socket down."""
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the minimum: soon full
    client = ChatClient(*listener.getsockname()[:2])
    client.close_timeout = 0.5
    client.connect()
    assert isinstance(client._sock, socket.socket)
    client._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # the minimum too
    server_side, _ = listener.accept()
    with server_side:  # accepted, never read
        line = "x" * client.max_line_bytes
        assert "not reading" in str(refusal(client, line))
        # The writer is now blocked sending what was queued before the refusal.
        closer = threading.Thread(target=client.close)
        closer.start()
        closer.join(WAIT)
        assert not closer.is_alive(), "close() hung on a server that does not read"


def refusal(client: ChatClient, line: str) -> ChatError | None:
    """Queue *line* until the client refuses (4 MB: far more than the kernel buffers hold)."""
    try:
        for _ in range(1000):
            client.send(line)
    except ChatError as refused:
        return refused
    return None


def test_over_long_server_lines_are_reported_once_with_the_reason(
    listener: socket.socket,
) -> None:
    """Item 15: what was dropped and why, once; how many in all, at the end."""
    client = ChatClient(*listener.getsockname()[:2])
    seen: list[events.Event] = []
    ended = threading.Event()
    client.add_observer(seen.append)

    def see_the_end(event: events.Event) -> None:
        if isinstance(event, events.Disconnected):
            ended.set()

    client.add_observer(see_the_end)
    client.connect()
    allowance = protocol.MAX_SERVER_LINE_BYTES  # exactly what a server may send
    server_side, _ = listener.accept()
    with server_side:
        too_long = b"x" * (allowance + 1) + b"\n"
        at_limit = b"y" * allowance + b"\n"  # the longest line shown
        server_side.sendall(too_long * 3 + at_limit + too_long)
        server_side.shutdown(socket.SHUT_WR)
        assert ended.wait(WAIT)
    client.close()
    errors = [e.text for e in seen if isinstance(e, events.Error)]
    assert errors == [
        "a line from the server was not shown: it was longer than this client accepts "
        f"({allowance} bytes); any more such lines are dropped too",
        "4 over-long lines from the server were not shown",
    ]
    shown = [e.text for e in seen if isinstance(e, events.Notice)]
    assert shown == ["y" * allowance]
