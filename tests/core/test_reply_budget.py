"""One budget for everything queued to a connection, at its exact edge (issue 15, item 1).

The log after a client's cursor and its private replies count together: a
reply that brings the total to exactly ``max_backlog_bytes`` is queued, one
byte more and the client is dropped, at once (no broadcast needed).  As in
``test_delivery_trim_edge.py``, delivery is driven by hand with socket pairs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import ContextManager

import pytest

from tcpchat.chatlog import MemoryLog
from tcpchat.server.delivery import Connection, Delivery

BUDGET = 100


class Changes:
    """The transactions delivery is given: a lock, changes, and the drops it asks for."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.drops: list[tuple[str, str]] = []

    def __call__(self, sender: Connection | None = None) -> ContextManager[None]:
        return contextlib.nullcontext()

    def drop(self, connection: Connection, reason: str) -> None:
        self.drops.append((connection.peer, reason))


@pytest.mark.parametrize(("extra", "dropped"), [(0, False), (1, True)])
def test_a_reply_exactly_at_the_budget_is_queued_and_one_byte_more_drops(
    extra: int, dropped: bool
) -> None:
    changes = Changes()
    delivery = Delivery(changes, max_backlog_bytes=BUDGET, linger_seconds=0, log=MemoryLog())
    ours, theirs = socket.socketpair()
    with ours, theirs:
        client = Connection(ours, "client")
        delivery.add(client)
        delivery.broadcast(b"b" * 40)
        delivery.publish(None)  # 40 bytes behind in the log: far from a trim
        delivery.reply(client, b"r" * 30)
        assert changes.drops == []
        delivery.reply(client, b"s" * (30 + extra))  # 40 + 30 + 30 = the budget
        assert delivery.waiting(client) == BUDGET + extra
        expected = [("client", f"too slow: fell {BUDGET + 1} bytes behind")] if dropped else []
        assert changes.drops == expected
