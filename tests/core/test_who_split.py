"""/who with 400 clients comes in several lines, each within the limit (issue 15 item 12).

Before, the answer was one 4,318-byte line that the client's own line buffer
(4,136 bytes) threw away.
"""

from __future__ import annotations

import contextlib
import socket

from tcpchat import protocol
from tcpchat.guard import Limits
from tcpchat.server import ChatServer

CLIENTS = 400


def test_who_with_400_clients_comes_in_several_lines_under_the_limit() -> None:
    limits = Limits(max_connections_per_address=0)  # 400 from one loopback address
    with ChatServer("127.0.0.1", 0, limits=limits) as server, contextlib.ExitStack() as stack:
        others: list[socket.socket] = []
        for _ in range(CLIENTS - 1):
            others.append(stack.enter_context(socket.create_connection(server.address, timeout=30)))
        for sock in others:  # each seated: the wait for earlier arrivals is bounded, not sure
            assert stack.enter_context(sock.makefile("rb")).readline().startswith(b"* welcome")
        asker = stack.enter_context(socket.create_connection(server.address, timeout=30))
        lines = stack.enter_context(asker.makefile("rb"))
        assert lines.readline().startswith(b"* welcome, you are ")
        asker.sendall(b"/who\n")
        names: list[str] = []
        sizes: list[int] = []
        while len(names) < CLIENTS + 1:  # everyone and the operator
            raw = lines.readline()
            assert raw.endswith(b"\n"), raw[-80:]
            if not names and not raw.startswith(b"* online: "):
                continue  # its own arrival, broadcast to everyone
            sizes.append(len(raw) - 1)
            fields = protocol.ONLINE.parse(raw.decode().rstrip("\n").removeprefix("* "))
            assert fields is not None, raw[:80]
            names += fields["nicks"].split(", ")
        assert len(sizes) >= 2
        assert max(sizes) <= protocol.MAX_SERVER_LINE_BYTES
        assert names == server.nicks()
        assert len(set(names)) == CLIENTS + 1
