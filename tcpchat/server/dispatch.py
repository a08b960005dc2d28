"""Telling observers what happened, on one thread of their own, never far behind.

The server changes state in transactions (:mod:`tcpchat.server.changes`);
observers (a console, a window, a log file) must hear about it in the same
order, but must never hold up the chat for long.
So the server hands each change's events to an :class:`EventDispatcher`
(``post()`` is one queue put) and the dispatcher's thread calls the observers.
It wakes at most once per :attr:`EventDispatcher.tick_seconds` and then tells
them everything since: a thread wake-up costs more than printing a line, so
under load the observers get events in batches instead of a wake-up each.

The queue is **bounded**: when :attr:`EventDispatcher.max_pending` events are
waiting, ``post()`` waits for room.  The thread that made the change (a
reader, usually) waits, so the chat slows to the speed of its observers
instead of leaving them behind without limit.  That is what bounds how far
the ``--log-file`` lags behind what the clients have received, whatever the
load (an unbounded queue once fell 54 % behind, with its memory, under a
flood): at most ``max_pending`` events plus one change are queued, and as
many again are being told, so the lag is under ``2 * (max_pending + C)``
events, where C, the most events one change can make, is the lines of one
``recv()`` (a few hundred in practice).  It is safe because ``post()`` is
only called once a change has released the server's lock (see
``Changes._end``), so a waiting poster holds up nobody but itself; and the
observers never wait for the server, so the queue always drains.  Two posters
never wait, so nothing can deadlock on a full queue: the dispatcher's own
thread (an observer that makes a change) and anyone once :meth:`stop` has
begun, which only adds its end marker.

The thread runs at a slightly lower CPU priority than the chat's threads, not
the lowest: at the lowest, a full queue would leave the readers waiting on a
thread the scheduler almost never runs.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import threading
import time

from tcpchat import events
from tcpchat.threads import start_thread

log = logging.getLogger(__name__)

_STOP: list[events.Event] = []
"""The end marker (compared by identity; an empty batch is never posted)."""


class EventDispatcher:
    """Calls every observer with every posted event, in order, on its own thread."""

    tick_seconds = 0.01
    """The thread wakes at most this often, then delivers everything since."""
    max_pending = 4096
    """Events posted but not yet taken: at this many, ``post()`` waits."""
    nice = 19
    """How much lower than the chat's threads the event thread runs (Linux; 19 is the lowest).

    The lowest: when a reader and the event thread want the same core, the
    reader goes first (round trips 0.68x -> 0.85x Twisted's against +5 in one
    run).  The lag stays bounded all the same: a full queue makes the readers
    wait (:attr:`max_pending`), whatever the priority."""

    def __init__(self, max_pending: int | None = None) -> None:
        if max_pending is not None:
            if max_pending < 1:
                raise ValueError("max_pending must be at least 1")
            self.max_pending = max_pending
        self.observers: list[events.Observer] = []
        self._pending: collections.deque[list[events.Event]] = collections.deque()
        self._count = 0  # events in self._pending
        self._changed = threading.Condition(threading.Lock())
        self._stopping = False
        self._thread = threading.Thread()
        self.waits = 0
        """How many times ``post()`` had to wait for room (for tests and benchmarks)."""

    def start(self) -> None:
        self._thread = start_thread(self._run, "tcpchat-events")

    @property
    def pending(self) -> int:
        """Events posted and not yet taken by the event thread."""
        with self._changed:
            return self._count

    def post(self, news: list[events.Event]) -> None:
        """Queue *news* for the observers; waits while the queue is full.

        Never call it holding a lock an observer may need (the server's lock
        above all): the wait is for the observers to catch up.
        """
        with self._changed:
            if self._count >= self.max_pending and not self._exempt():
                self.waits += 1
                self._changed.notify_all()  # the slow path: let a watcher see the wait
                while self._count >= self.max_pending and not self._stopping:
                    self._changed.wait()
            self._pending.append(news)
            self._count += len(news)
            if len(self._pending) == 1:
                self._changed.notify_all()

    def stop(self) -> None:
        """Deliver what was posted, then end the thread and join it."""
        with self._changed:
            self._stopping = True  # from now on nobody waits for room
            self._pending.append(_STOP)
            self._changed.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _exempt(self) -> bool:
        return self._stopping or self._thread is threading.current_thread()

    def _take(self) -> list[list[events.Event]]:
        """Wait for something posted, pause one tick to gather more, then take it all."""
        with self._changed:
            while not self._pending:
                self._changed.wait()
        # Not waiting for a condition: a deliberate pause to batch wake-ups.
        time.sleep(self.tick_seconds)
        with self._changed:
            batches = list(self._pending)
            self._pending.clear()
            self._count = 0
            self._changed.notify_all()  # room for every waiting poster
        return batches

    def _run(self) -> None:
        _lower_priority(self.nice)  # observers are for people: the chat itself goes first
        while True:
            for news in self._take():
                if news is _STOP:
                    return
                for event in news:
                    self._notify(event)

    def _notify(self, event: events.Event) -> None:
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # an observer's bug must not stop the server
                log.exception("observer %r failed on %r", observer, event)


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by *nice*, where a thread can have its own.

    On Linux a thread has its own nice value, so when a reader and the event
    thread both want the CPU, the reader gets more of it.  Elsewhere
    ``setpriority`` would renice the whole process (or another one), so
    nothing is done.
    """
    if sys.platform == "linux" and nice:
        with contextlib.suppress(OSError):
            current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, current + nice))
