"""The observers' queue is bounded: a slow log file slows the chat, never falls far behind.

Issue 15 item 2: the queue was unbounded, so under a flood the ``--log-file``
fell tens of thousands of lines behind what the clients had received (and its
memory grew with it).  Now ``post()`` waits while ``max_pending`` changes are
queued; these tests hold an observer still (a gate) to fill the queue.
"""

from __future__ import annotations

import socket
import threading

import pytest

from tcpchat import events
from tcpchat.guard import Limits
from tcpchat.server import ChatServer
from tcpchat.server.dispatch import EventDispatcher

TIMEOUT = 30.0
MAX_PENDING = 20
LINES = 500
RECV_BYTES = 64
"""The server reads 64 bytes at a time, so the lines come in many changes."""
CHUNK = RECV_BYTES // len("m0\n")
"""The most lines (events) one change can make."""


class _Lines:
    """Chat lines one socket receives, collected on a thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.changed = threading.Condition()
        self.chat: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(sock,), daemon=True)
        self._reader.start()

    def _read(self, sock: socket.socket) -> None:
        for raw in sock.makefile("rb"):
            line = raw.decode().rstrip("\n")
            with self.changed:
                if ": m" in line:
                    self.chat.append(line)
                self.changed.notify_all()

    def wait(self, predicate: object) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, TIMEOUT)  # type: ignore[arg-type]


def test_a_stalled_observer_holds_the_chat_back_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(EventDispatcher, "max_pending", MAX_PENDING)
    monkeypatch.setattr(ChatServer, "recv_bytes", RECV_BYTES)
    gate = threading.Event()
    told: list[str] = []

    def stalled(event: events.Event) -> None:
        gate.wait()
        if isinstance(event, events.Message):
            told.append(event.text)

    with ChatServer("127.0.0.1", 0, limits=Limits.unlimited()) as server:
        try:
            server.add_observer(stalled)
            dispatcher = server._events
            listener = socket.create_connection(server.address, timeout=TIMEOUT)
            heard = _Lines(listener)
            sender = socket.create_connection(server.address, timeout=TIMEOUT)
            sender.sendall(b"".join(f"m{i}\n".encode() for i in range(LINES)))

            with dispatcher._changed:  # a reader found the queue full and waits
                assert dispatcher._changed.wait_for(lambda: dispatcher.waits > 0, TIMEOUT)
            # Told (blocked) and queued: under MAX_PENDING + CHUNK each; and the waiting
            # reader's own chunk, delivered before its post.
            assert len(heard.chat) <= 2 * (MAX_PENDING + CHUNK) + CHUNK
            assert dispatcher.pending < MAX_PENDING + CHUNK
        finally:
            gate.set()  # the observer catches up, and the chat goes on
        heard.wait(lambda: len(heard.chat) == LINES)
        server.stop()
        assert told == [f"m{i}" for i in range(LINES)]  # nothing lost, in order
        for sock in (listener, sender):
            sock.close()


def test_stop_releases_a_poster_waiting_on_a_full_queue() -> None:
    dispatcher = EventDispatcher(max_pending=2)  # never started: nothing drains it
    dispatcher.post([events.Notice("one")])
    dispatcher.post([events.Notice("two")])
    poster = threading.Thread(target=dispatcher.post, args=([events.Notice("three")],))
    poster.start()
    changed = dispatcher._changed
    with changed:
        assert changed.wait_for(lambda: dispatcher.waits == 1, TIMEOUT)
    dispatcher.stop()
    poster.join(TIMEOUT)
    assert not poster.is_alive()


def test_an_observer_that_posts_never_waits_on_its_own_queue() -> None:
    dispatcher = EventDispatcher(max_pending=1)
    seen: list[str] = []
    done = threading.Event()

    def echo(event: events.Event) -> None:
        assert isinstance(event, events.Notice)
        seen.append(event.text)
        if len(seen) < 50:
            for _ in range(3):  # more than the queue holds, from the event thread itself
                dispatcher.post([events.Notice(f"{len(seen)}")])
        else:
            done.set()

    dispatcher.observers.append(echo)
    dispatcher.start()
    dispatcher.post([events.Notice("start")])
    assert done.wait(TIMEOUT)
    dispatcher.stop()


def test_max_pending_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EventDispatcher(max_pending=0)
