"""Loopback peers are exempt from the per-address limits by default (issue 11).

301 clients from 127.0.0.1 all chat on a default server; ``limit_loopback``
puts the limits back (a server behind a local proxy or SSH tunnel, where
every peer looks local), asserted at the limit.
"""

from __future__ import annotations

import socket
from typing import Iterator

import pytest
from harness import RawPeer, joined_peer

from tcpchat.guard import Limits
from tcpchat.server import ChatServer

TIMEOUT = 15.0


@pytest.fixture
def server(address: tuple[str, int], request: pytest.FixtureRequest) -> Iterator[ChatServer]:
    limits = getattr(request, "param", Limits())
    with ChatServer(*address, limits=limits) as running:
        yield running


def test_301_clients_from_one_loopback_address_all_chat(server: ChatServer) -> None:
    witness = joined_peer(server.address)
    clients: list[socket.socket] = []
    try:
        for n in range(301):
            sock = socket.create_connection(server.address, TIMEOUT)
            sock.sendall(b"hello from %d\n" % n)
            clients.append(sock)
        for _ in range(301):  # connections race each other: any order
            witness.expect_line(r"^Client\d+: hello from \d+$")
        chat = [line for line in witness.lines if ": hello from " in line]
        assert sorted(line.split(": ")[1] for line in chat) == sorted(
            f"hello from {n}" for n in range(301)
        )
    finally:
        for sock in clients:
            sock.close()
        witness.close()


@pytest.mark.parametrize(
    "server", [Limits(max_connections_per_address=32, limit_loopback=True)], indirect=True
)
def test_limit_loopback_keeps_the_per_address_limit_at_the_limit(server: ChatServer) -> None:
    peers = [joined_peer(server.address) for _ in range(32)]  # exactly the limit: all in
    refused = RawPeer(*server.address)
    assert refused.expect_line(r"^\* error: ") == (
        "* error: too many connections from 127.0.0.1 (at most 32); close one and try again"
    )
    refused.wait_closed()
    for peer in peers:
        peer.close()
