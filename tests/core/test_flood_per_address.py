"""The budget belongs to the source address, not the connection (issue 15 item 10).

Reconnecting does not refill the line budget, and joins are paced at the
door, so a connect-and-close loop can push neither lines nor join and leave
notices faster than the limits.  Real sockets; ``limit_loopback=True`` so the
rules apply to these loopback peers.
"""

from __future__ import annotations

import socket
from typing import Callable

import pytest
from harness import RawPeer

from tcpchat.guard import Limits
from tcpchat.server import ChatServer

SLOWED = r"^\* slow down: over "
TIMEOUT = 15.0


class SourcedPeer(RawPeer):
    """A :class:`RawPeer` connecting from a chosen loopback address (another machine)."""

    def __init__(self, address: tuple[str, int], source: str) -> None:
        real = socket.create_connection

        def from_source(*args: object, **kwargs: object) -> socket.socket:
            return real(address, TIMEOUT, source_address=(source, 0))

        socket.create_connection = from_source
        try:
            super().__init__(*address)
        finally:
            socket.create_connection = real


def joined_peer(address: tuple[str, int], source: str = "127.0.0.1") -> RawPeer:
    peer = SourcedPeer(address, source)
    peer.expect_line(r"^\* welcome, you are ")
    return peer


def test_reconnecting_does_not_refill_the_line_budget(serve: Callable[..., ChatServer]) -> None:
    limits = Limits(lines_per_second=0.001, burst_lines=20, limit_loopback=True)
    server = serve(limits=limits)
    witness = joined_peer(server.address, "127.0.0.2")
    for round_ in range(4):  # 4 x 5 lines: exactly the burst, each on a new connection
        churner = joined_peer(server.address)
        churner.send_bytes(b"".join(b"round %d line %d\n" % (round_, n) for n in range(5)))
        witness.expect_line(rf"^Client\d+: round {round_} line 4$")
        churner.close()
    late = joined_peer(server.address)
    late.send_line("one more")
    late.expect_line(SLOWED)  # a fresh connection, but the address's budget is spent
    other = joined_peer(server.address, "127.0.0.3")  # another address has its own
    other.send_line("from elsewhere")
    witness.expect_line(r"^Client\d+: from elsewhere$")
    assert not any("one more" in line for line in witness.lines)  # relayed, it would be in


def test_joins_over_the_rate_wait_at_the_door(serve: Callable[..., ChatServer]) -> None:
    limits = Limits(joins_per_second=0.001, burst_joins=3, limit_loopback=True)
    server = serve(limits=limits)
    witness = joined_peer(server.address, "127.0.0.2")
    for _ in range(3):  # exactly the burst: straight in, and out again
        joined_peer(server.address).close()
    held = socket.create_connection(server.address, TIMEOUT)  # the fourth: paced
    # Accepted in turn: once a later newcomer from elsewhere is in, the fourth was
    # seen by the door, and it is still waiting, told nothing.
    joined_peer(server.address, "127.0.0.3").send_line("here")
    witness.expect_line(r"^Client\d+: here$")  # after its join notice, in the one order
    held.setblocking(False)
    with pytest.raises(BlockingIOError):
        held.recv(1)
    joins = [line for line in witness.lines if line.endswith(" joined")]
    assert len(joins) == 5  # the witness, three from the churner, one from 127.0.0.3
    server.stop()  # stopping ends the wait at the door at once
    held.setblocking(True)
    held.settimeout(TIMEOUT)
    assert held.recv(1) == b""  # closed without a word (no chat ever reached it)
    held.close()


def test_loopback_joins_are_not_paced_by_default(serve: Callable[..., ChatServer]) -> None:
    server = serve(limits=Limits(joins_per_second=0.001, burst_joins=1))
    for _ in range(5):
        joined_peer(server.address).close()
