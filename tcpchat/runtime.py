"""How a tcpchat process waits, stops and retries: stop signals, back-off.

The three front ends (terminal, windows, demo) share one answer to each of
these, so they behave alike and the subtle part is written once:

* **Stop signals.**  SIGINT and SIGTERM run a handler on the main thread, in
  between two bytecodes of whatever it was doing.  If that was ``Event.wait()``,
  the Event's lock is held, and a handler calling ``Event.set()`` deadlocks on
  it.  So a handler here only does what is safe at any moment: set a plain
  flag, or :meth:`Bell.ring`, which is a :class:`queue.SimpleQueue` ``put()``
  (documented as reentrant).
* **Waiting.**  CPython runs handlers only when the main thread next runs
  Python code.  If the kernel hands SIGTERM to another thread, a main thread
  blocked in one long wait never wakes to run the handler and the process
  ignores the signal; so the main thread waits in slices of
  :data:`SIGNAL_CHECK_SECONDS` (:meth:`Bell.wait`).
* **Back-off.**  A lost server is tried again after each of
  :data:`RETRY_DELAYS` in turn, the last repeating (:func:`retry_delay`).
"""

from __future__ import annotations

import contextlib
import queue
import signal
import time
from typing import Callable, Sequence

SIGNAL_CHECK_SECONDS = 0.25
"""How often a waiting main thread wakes so that a signal's handler can run."""

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds before each reconnection attempt (terminal and window alike); the last repeats."""


def retry_delay(failures: int, delays: Sequence[float] = RETRY_DELAYS) -> float:
    """Seconds to wait after *failures* failed attempts in a row (0: the first retry)."""
    return delays[min(failures, len(delays) - 1)]


def on_stop_signals(handler: Callable[[], None]) -> None:
    """Call *handler* on SIGINT and SIGTERM (install from the main thread only).

    *handler* runs inside the signal handler, so it must be signal-safe: set a
    flag, :meth:`Bell.ring`, nothing that takes a lock.
    """
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda _signum, _frame: handler())


class Bell:
    """A wake-up call for the main thread, rung from any thread or a signal handler.

    :meth:`ring` only puts a token on a :class:`queue.SimpleQueue`, so it is
    safe in a signal handler (unlike ``threading.Event.set()``); :meth:`wait`
    takes one token, waking every :data:`SIGNAL_CHECK_SECONDS` so that the
    handlers get to run.  Each ring wakes one wait; a waiter that rechecks its
    condition after every wake-up loses nothing to rings that came together.
    """

    def __init__(self) -> None:
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()

    def ring(self) -> None:
        self._tokens.put(None)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until rung (True) or until *timeout* seconds have passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = SIGNAL_CHECK_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(queue.Empty):
                self._tokens.get(timeout=min(left, SIGNAL_CHECK_SECONDS))
                return True

    def clear(self) -> None:
        """Forget rings no one waited for yet."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._tokens.get_nowait()
