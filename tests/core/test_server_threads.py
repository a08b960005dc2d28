"""No thread left behind, counting only the threads the server names (issue 16).

Comparing every thread of the pytest worker before and after is flaky: other
tests' helpers (a RawPeer's reader, a Tk pump, hypothesis) come and go in the
same process.  The server names each of its threads ``tcpchat-…`` (accept,
events, fan-out, readers, writers, gates), so those are the ones counted, and
the test first checks that it saw them running (a count of nothing proves nothing).
"""

from __future__ import annotations

import threading

from harness import RawPeer

from tcpchat.guard import Limits
from tcpchat.server import ChatServer


def server_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("tcpchat-")}


def test_stop_ends_every_thread_the_server_started(address: tuple[str, int]) -> None:
    before = server_threads()  # normally empty; another test's leftovers are not ours
    server = ChatServer(*address, password="pw", limits=Limits.unlimited())
    server.start()
    joined = []
    for _ in range(3):
        peer = RawPeer(*server.address)
        peer.expect_line(r"^\* password required")
        peer.send_line("/pass pw")
        peer.expect_line(r"^\* welcome")
        joined.append(peer)
    waiting = RawPeer(*server.address)  # still at the door (gate thread) when the server stops
    waiting.expect_line(r"^\* password required")
    running = server_threads() - before
    kinds = {name.split(" ")[0] for name in running}
    assert {"tcpchat-accept", "tcpchat-events", "tcpchat-fanout"} <= kinds, running
    assert {"tcpchat-reader", "tcpchat-gate"} <= kinds, running
    server.stop()  # joins every thread it started: nothing named tcpchat-… may be left
    assert server_threads() - before == set()
    for peer in [*joined, waiting]:
        peer.close()
