"""Telling observers what happened, on one thread of their own.

The server changes state in transactions (:mod:`tcpchat.server.changes`);
observers (a console, a window, a log file) must hear about it in the same
order, but must never hold up the chat.
So the server hands each change's events to an :class:`EventDispatcher`
(``post()`` is one queue put) and the dispatcher's thread calls the observers.
It wakes at most once per :attr:`EventDispatcher.tick_seconds` and then tells
them everything since: a thread wake-up costs more than printing a line, so
under load the observers get events in batches instead of a wake-up each.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time

from tcpchat import events
from tcpchat.threads import start_thread

log = logging.getLogger(__name__)


class EventDispatcher:
    """Calls every observer with every posted event, in order, on its own thread."""

    tick_seconds = 0.01
    """The thread wakes at most this often, then delivers everything since."""

    def __init__(self) -> None:
        self.observers: list[events.Observer] = []
        self._queue: queue.SimpleQueue[list[events.Event] | None] = queue.SimpleQueue()
        self._thread = threading.Thread()

    def start(self) -> None:
        self._thread = start_thread(self._run, "tcpchat-events")

    def post(self, news: list[events.Event]) -> None:
        """Queue *news* for the observers; safe from any thread, never blocks."""
        self._queue.put(news)

    def stop(self) -> None:
        """Deliver what was posted, then end the thread and join it."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        _lower_priority()  # observers are for people: the chat itself goes first
        while True:
            batches = [self._queue.get()]
            # Not waiting for a condition: a deliberate pause to batch wake-ups.
            time.sleep(self.tick_seconds)
            with contextlib.suppress(queue.Empty):
                while batches[-1] is not None:
                    batches.append(self._queue.get_nowait())
            for news in batches:
                if news is None:
                    return
                for event in news:
                    self._notify(event)

    def _notify(self, event: events.Event) -> None:
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # an observer's bug must not stop the server
                log.exception("observer %r failed on %r", observer, event)


def _lower_priority() -> None:
    """Give the calling thread the lowest CPU priority, where a thread can have its own.

    On Linux a thread has its own nice value, so when a reader and the event
    thread both want the CPU, the reader gets it.  Elsewhere ``setpriority``
    would renice the whole process (or another one), so nothing is done.
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
