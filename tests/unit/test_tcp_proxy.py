"""The test proxy itself: it forwards both ways, and a cut really ends the connection."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest
from tcp_proxy import TcpProxy


@pytest.fixture
def echo_server() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def test_forwards_both_ways_and_a_cut_resets_both_ends(echo_server: socket.socket) -> None:
    with TcpProxy(echo_server.getsockname()) as proxy:
        client = socket.create_connection(proxy.address, timeout=10)
        upstream, _ = echo_server.accept()
        upstream.settimeout(10)
        client.sendall(b"ping\n")
        assert upstream.recv(100) == b"ping\n"
        upstream.sendall(b"pong\n")
        assert client.recv(100) == b"pong\n"

        assert proxy.cut() == 1
        assert _ends_with_reset(client)  # not an orderly end: a cut, not a goodbye
        assert _ends_with_reset(upstream)
        client.close()
        upstream.close()

        again = socket.create_connection(proxy.address, timeout=10)  # forwarded again
        second, _ = echo_server.accept()
        second.settimeout(10)
        again.sendall(b"again\n")
        assert second.recv(100) == b"again\n"
        assert proxy.connections == 2
        again.close()
        second.close()


def test_refusing_turns_newcomers_away_until_accepting_again(echo_server: socket.socket) -> None:
    with TcpProxy(echo_server.getsockname()) as proxy:
        proxy.refuse()
        try:
            refused = socket.create_connection(proxy.address, timeout=10)
        except ConnectionResetError:
            pass  # the reset can even beat connect() back
        else:
            assert _ends_with_reset(refused)
            refused.close()
        proxy.accept()
        welcome = socket.create_connection(proxy.address, timeout=10)
        upstream, _ = echo_server.accept()
        upstream.close()
        assert welcome.recv(100) == b""  # forwarded: the upstream's orderly close came through
        welcome.close()
        assert proxy.connections == 1


def _ends_with_reset(sock: socket.socket) -> bool:
    """Read to the end: True if it ended with a reset, False if with an orderly close."""
    try:
        while sock.recv(100):
            pass
    except ConnectionResetError:
        return True
    return False
