"""A failing-over client on a real cluster: its server stops, it goes on on the other one.

Two ChatServers of one room on this worker's redis-server
(:func:`test_cluster_server.cluster_starter`'s way); Eve is a
``ChatClient(servers=[first, second])``, Bob a raw peer of the second.  When
the first server stops, Eve resumes on the second at once (no
``Disconnected`` in between), and her chat is Bob's, line for line: nothing
lost, nothing doubled, and nobody saw her leave.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Callable

import pytest
import redis
from harness import RawPeer

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.server import ChatServer
from tcpchat.server.cluster import Cluster, RedisStore

TIMEOUT = 20.0
Start = Callable[[str], ChatServer]


@pytest.fixture
def start(redis_url: str, room: str, client: redis.Redis) -> Iterator[Start]:
    servers: list[ChatServer] = []

    def start_one(nick: str) -> ChatServer:
        cluster = Cluster.connect(RedisStore(redis_url, room), history=50, say=print)
        server = ChatServer("127.0.0.1", 0, operator_nick=nick, cluster=cluster, history=50)
        server.start()
        servers.append(server)
        return server

    yield start_one
    for server in servers:
        server.stop()


class Recorder:
    def __init__(self, chat_client: ChatClient) -> None:
        self.events: list[events.Event] = []
        self.changed = threading.Condition()
        chat_client.add_observer(self._add)

    def _add(self, event: events.Event) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait(self, what: str, predicate: Callable[[], bool]) -> None:
        with self.changed:
            if not self.changed.wait_for(predicate, TIMEOUT):
                raise AssertionError(f"timed out waiting for {what}: {self.events[-20:]}")

    def chat(self) -> list[str]:
        with self.changed:
            return [
                f"{event.nick}: {event.text}"
                for event in self.events
                if isinstance(event, events.Message) and not event.history
            ]


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
        seen.wait("bob's line", lambda: "bob: one" in seen.chat())
        first.stop()
        bob.send_line("while away")
        seen.wait("the resume", lambda: any(isinstance(e, events.Resumed) for e in seen.events))
        eve.send("back")
        bob.expect_line(r"^eve: back$")
        seen.wait("eve's line", lambda: "eve: back" in seen.chat())
        with seen.changed:
            connections = [
                (e.host, e.port) if isinstance(e, events.Connected) else "lost"
                for e in seen.events
                if isinstance(e, (events.Connected, events.Disconnected))
            ]
        assert connections == addresses
    finally:
        eve.close()
    bob_chat = [line for line in bob.lines if not line.startswith(("~", "*"))]
    assert seen.chat() == bob_chat
    assert bob_chat.count("bob: while away") == 1
    assert not any(line.startswith("* eve left") for line in bob.lines[:-1])
    bob.close()
