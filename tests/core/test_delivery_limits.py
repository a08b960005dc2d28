"""The slow-reader budget asserted while the backlog grows, not after the drop (issue 16).

The older test looked at the shared log only after the sleeper had been dropped,
when the log has just been trimmed: a server dropping slow readers at 8x
``max_backlog_bytes`` passed it.  Here the log is sampled after every batch while
it grows, and the "fell N bytes behind" figure of the drop is checked against
the limit.  Also: the operator's say() inside the server's single order.

Uses ``ChatServer._log_bytes()`` (a private probe of the delivery code, which
moves to ``tcpchat.server.delivery`` with the package reshaping).
"""

from __future__ import annotations

import re
import socket
from typing import Callable

from harness import RawPeer, assert_one_total_order, joined_peer, run_concurrently

from tcpchat import events
from tcpchat.guard import Limits
from tcpchat.server import ChatServer

MAX_BACKLOG = 512 * 1024
LINES_PER_BATCH = 50
PAYLOAD = "x" * 100
SLACK = 64 * 1024
"""One publish may add what one reader took in a single recv() on top of 2x the budget."""


class Seen:
    """The observer: every Left event, as it happens."""

    def __init__(self) -> None:
        self.left: list[events.Left] = []

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.Left):
            self.left.append(event)


def test_a_sleeper_is_dropped_within_its_budget_and_the_log_never_outgrows_it(
    address: tuple[str, int],
) -> None:
    seen = Seen()
    server = ChatServer(*address, max_backlog_bytes=MAX_BACKLOG, limits=Limits.unlimited())
    server.add_observer(seen)
    server.start()
    try:
        sleeper = socket.socket()
        sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.connect(server.address)  # and never reads a byte
        talker, listener = joined_peer(server.address), joined_peer(server.address)
        samples: list[int] = []
        sent = 0
        while not seen.left and sent < 100_000:
            batch = "".join(f"{sent + i} {PAYLOAD}\n" for i in range(LINES_PER_BATCH))
            talker.send_bytes(batch.encode())
            sent += LINES_PER_BATCH
            listener.expect_line(f"^Client2: {sent - 1} ")
            samples.append(server._log_bytes())
            # The budget holds at every step, not only once the drop has trimmed the log.
            assert samples[-1] <= 2 * MAX_BACKLOG + SLACK, (sent, samples[-10:])
        assert seen.left, f"the sleeper was never dropped after {sent} lines"
        left = seen.left[0]
        assert left.nick == "Client"
        match = re.fullmatch(r"too slow: fell (\d+) bytes behind", left.reason)
        assert match, left.reason
        behind = int(match.group(1))
        # More than the budget (not dropped early), at most twice it (not dropped late).
        assert MAX_BACKLOG < behind <= 2 * MAX_BACKLOG + SLACK, behind
        # The log really grew to the trimming point before the drop (the sampling was not idle).
        assert max(samples) > MAX_BACKLOG
        # Awaited: the trim that dropped it logs the notice after the batch that set it off
        listener.inbox.wait_for(r"^\* Client left \(too slow", 15, 0)
        sleeper.close()
        talker.close()
        listener.close()
    finally:
        server.stop()


def test_a_reader_that_keeps_up_is_never_dropped_with_a_tiny_budget(
    address: tuple[str, int],
) -> None:
    """The other side of the limit: a log far past the budget drops nobody who reads."""
    seen = Seen()
    server = ChatServer(*address, max_backlog_bytes=4096, limits=Limits.unlimited())
    server.add_observer(seen)
    server.start()
    try:
        talker, listener = joined_peer(server.address), joined_peer(server.address)
        for number in range(200):  # 200 x ~110 bytes: five times the budget, one line at a time
            talker.send_line(f"{number} {PAYLOAD}")
            listener.expect_line(f"^Client: {number} ")
        assert seen.left == []
        assert server._log_bytes() <= 2 * 4096 + SLACK
        talker.close()
        listener.close()
    finally:
        server.stop()


def test_the_operator_chatting_during_a_flood_is_in_everyones_single_order(
    address: tuple[str, int],
) -> None:
    server = ChatServer(*address, limits=Limits.unlimited())
    server.start()
    try:
        peers = [joined_peer(server.address) for _ in range(3)]
        for number, peer in enumerate(peers):
            peer.send_line(f"/nick p{number}")
        for peer in peers:
            peer.expect_line(r"^\* Client3 is now p2")
        texts = {f"p{n}": [f"p{n} {i}" for i in range(400)] for n in range(3)}
        texts["Server"] = [f"operator {i}" for i in range(400)]

        def blast(peer: RawPeer, name: str) -> Callable[[], None]:
            return lambda: peer.send_bytes("".join(f"{t}\n" for t in texts[name]).encode())

        def operator() -> None:
            for text in texts["Server"]:
                server.say(text)

        run_concurrently(operator, *(blast(peer, f"p{n}") for n, peer in enumerate(peers)))
        total = sum(len(t) for t in texts.values())
        assert_one_total_order([peer.inbox.wait_for_chat(total, 30) for peer in peers], texts)
        # Then the operator alone, once everything else is out: its line must go out at
        # once with no other traffic to carry it (a say() outside the transaction leaves
        # it in the batch, unpublished).
        server.say("the last word")
        for peer in peers:
            assert peer.expect_line(r"^Server: the last word$", timeout=5)
        for peer in peers:
            peer.close()
    finally:
        server.stop()
