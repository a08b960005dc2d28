"""A line sent just before a cut appears exactly once (a real server core, a cutting proxy).

Whether the line reached the room before the reset is a race the test does
not control, so it runs many rounds: in some the room had it (its echo
comes in the replay and it is not sent again), in others not (no echo by
the end of the replay: sent again).  Every round, the others must see it
once, and so must its sender.  The scripted-server tests in
``test_client_resume.py`` pin each branch down deterministically.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest
from harness import RawPeer
from tcp_proxy import TcpProxy

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.server import ChatServer
from tcpchat.session import Session

ROUNDS = 15
TIMEOUT = 15.0


@pytest.fixture
def server(address: tuple[str, int]) -> Iterator[ChatServer]:
    chat_server = ChatServer(*address)
    chat_server.start()
    yield chat_server
    chat_server.stop()


def wait_for(inbox: queue.Queue[events.Event], kind: type) -> events.Event:
    seen = []
    while True:
        try:
            event = inbox.get(timeout=TIMEOUT)
        except queue.Empty:
            shown = "\n".join(map(repr, seen[-30:]))
            raise AssertionError(f"no {kind.__name__} event; the last ones:\n{shown}") from None
        seen.append(event)
        if isinstance(event, kind):
            return event


def test_a_line_sent_just_before_a_cut_appears_exactly_once(
    server: ChatServer, address: tuple[str, int]
) -> None:
    bob = RawPeer(*address)
    bob.expect_line(r"^\* welcome")
    session = Session(nick="Eve")
    inbox: queue.Queue[events.Event] = queue.Queue()
    seen: list[str] = []

    def observe(event: events.Event) -> None:
        if isinstance(event, events.Message):
            seen.append(f"{event.nick}: {event.text}")
        inbox.put(event)

    with TcpProxy(address) as proxy:
        client = ChatClient(*proxy.address)
        client.use_session(session)
        client.add_observer(observe)
        client.connect()
        bob.expect_line(r"^\* Eve joined$")
        # Our own join comes after the session notice: from now on there is a session to
        # resume (a cut before it is a cut of a new session: nothing to resume yet).
        while wait_for(inbox, events.Notice) != events.Notice("Eve joined"):
            pass
        for number in range(ROUNDS):
            client.send(f"in flight {number}")
            proxy.cut()  # the line may or may not have reached the room
            wait_for(inbox, events.Disconnected)
            client.close()
            client = ChatClient(*proxy.address)
            client.use_session(session)
            client.add_observer(observe)
            client.connect()
            wait_for(inbox, events.Resumed)
            client.send(f"after {number}")
            bob.expect_line(f"^Eve: after {number}$")
            while f"Eve: after {number}" not in seen:
                wait_for(inbox, events.Message)
        client.close()
    for number in range(ROUNDS):
        assert bob.lines.count(f"Eve: in flight {number}") == 1, number
        assert seen.count(f"Eve: in flight {number}") == 1, number
    bob.expect_line(r"^\* Eve left ")  # bob may get it after Eve's close() has returned
    left = [line for line in bob.lines if line.startswith("* Eve left")]
    assert left == ["* Eve left (quit)"]  # the close at the end; the cuts were silent
