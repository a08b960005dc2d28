"""A failing-over client on a real cluster: its server stops, it goes on on the other one.

Two ChatServers of one room on this worker's redis-server
(the ``start`` fixture of conftest.py); Eve is a
``ChatClient(servers=[first, second])``, Bob a raw peer of the second.  When
the first server stops, Eve resumes on the second at once (no
``Disconnected`` in between), and her chat is Bob's, line for line: nothing
lost, nothing doubled, and nobody saw her leave.
"""

from __future__ import annotations

from event_recorder import Recorder
from harness import RawPeer
from redis_helpers import Start

from tcpchat import events
from tcpchat.client import ChatClient


def test_a_client_goes_on_on_the_next_server_when_its_server_stops(start: Start) -> None:
    first, second = start("Server1"), start("Server2")
    bob = RawPeer(*second.address)
    bob.send_line("/hello bob")
    bob.expect_line(r"^~\* session ")
    addresses = [first.address, second.address]  # the first's is gone once it stopped
    eve = ChatClient(servers=addresses, nick="eve")
    seen = Recorder(eve)
    eve.connect()
    try:
        bob.expect_line(r"^\* eve joined$")
        bob.send_line("one")
        eve.send("mine")
        bob.expect_line(r"^eve: mine$")
        seen.wait("bob's line", lambda _: "bob: one" in seen.chat())
        first.stop()
        bob.send_line("while away")
        # In the room's log before eve's "back" (bob's reader may lag behind her resume):
        # eve has it by her resume's replay or live, before her own line.
        bob.expect_line(r"^bob: while away$")
        seen.wait_count(events.Resumed, 1)
        eve.send("back")
        bob.expect_line(r"^eve: back$")
        seen.wait("eve's line", lambda _: "eve: back" in seen.chat())
        assert seen.connections() == addresses
    finally:
        eve.close()
    bob_chat = [line for line in bob.lines if not line.startswith(("~", "*"))]
    assert seen.chat() == bob_chat
    assert bob_chat.count("bob: while away") == 1
    bob.expect_line(r"^\* eve left \(quit\)$")  # her close, heard after close() returned
    assert [line for line in bob.lines if line.startswith("* eve left")] == ["* eve left (quit)"]
    bob.close()
