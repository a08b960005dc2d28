"""Getting the room's batches to Redis without making the server wait for it.

An append to :class:`tcpchat.redislog.RedisLog` is a round trip to Redis
(about 0.2 ms on a loaded loopback); made under the server's lock, it would
cap the whole server at a few thousand batches a second, and a stopped Redis
would freeze every connection for the timeout.  So the server *submits* each
batch here, under its lock, which only adds it to a list, and one
**shipper thread** sends what has been submitted: everything waiting when it
gets round to it goes out as one entry (one Lua script run), so the busier
the room, the more lines each round trip carries (group commit).

The server's clients see their lines when the stream's follower brings them
back (the local mirror: see :mod:`tcpchat.redislog`), so the order is the
stream's on every server; nothing is delivered locally before Redis has it.

Never dropped, held back instead
--------------------------------
While Redis is away the shipper keeps what it tried (held in the log, sent
again exactly once: see "Exactly once" there) and retries with back-off;
what is submitted meanwhile waits here.  A reader thread calls
:meth:`Shipper.admit` before it takes more from its client: past
``max_pending_lines`` it blocks (backpressure, the client's TCP window
fills), and if Redis stays away for *timeout* it gets False, so it can
refuse the line with a notice instead of keeping it.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from tcpchat.redisconn import LogLost, StoreUnavailable
from tcpchat.redislog import RedisLog
from tcpchat.threads import start_thread


class Shipper:
    """One thread that sends submitted batches to a :class:`RedisLog`, coalesced."""

    def __init__(
        self,
        log: RedisLog,
        *,
        max_pending_lines: int = 10_000,
        max_entry_lines: int = 5_000,
        retry_delays: Sequence[float] = (0.1, 0.25, 0.5, 1.0, 2.0),
        on_lost: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.log = log
        self.max_pending_lines = max_pending_lines
        self.max_entry_lines = max_entry_lines
        self._delays = tuple(retry_delays)
        self._on_lost = on_lost
        self.submitted = log.written
        """Lines submitted so far (the last batch's ticket)."""
        self._pending: list[bytes] = []  # submitted lines, not yet taken by the thread
        self._in_flight = 0  # lines taken and not yet known to be in Redis
        self._cond = threading.Condition()
        self._stopping = False
        self._ended = False  # the thread has returned
        self.failures = 0
        """Failed attempts in a row to reach Redis (0: all well)."""
        self.shipped_end = 0
        """The log's end position after the last entry this shipper got into Redis."""
        self._thread = start_thread(self._run, f"tcpchat-redis-shipper {log.room}")

    @property
    def waiting_lines(self) -> int:
        """Lines submitted and not yet known to be in Redis."""
        with self._cond:
            return len(self._pending) + self._in_flight

    def submit(self, lines: Sequence[bytes]) -> int:
        """Queue *lines* (one batch) for Redis; never blocks (see :meth:`admit`).

        Returns the batch's *ticket*: the lines submitted so far, these
        included.  The batch is in the mirror once a
        :class:`tcpchat.redislog.Entry` of this writer with ``upto >= ticket``
        has come back (the shipper is the log's only appender, so its count is
        the log's :attr:`RedisLog.written`).  :class:`StoreUnavailable` once
        the shipper has stopped (nothing is kept).
        """
        with self._cond:
            if self._stopping:
                raise StoreUnavailable("the chat store is closed")
            self._pending.extend(lines)
            self.submitted += len(lines)
            self._cond.notify_all()
            return self.submitted

    def admit(self, timeout: float | None = None) -> bool:
        """Wait while ``max_pending_lines`` or more wait for Redis; False after *timeout*.

        Call it outside the server's lock, before taking a client's next lines.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    (len(self._pending) + self._in_flight < self.max_pending_lines)
                    or self._stopping
                ),
                timeout,
            )
            return len(self._pending) + self._in_flight < self.max_pending_lines and not (
                self._stopping
            )

    def drained(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted is in Redis; False if not (time out, or ended)."""
        with self._cond:
            self._cond.wait_for(
                lambda: (not self._pending and not self._in_flight) or self._ended, timeout
            )
            return not self._pending and not self._in_flight

    def stop(self) -> None:
        """Ship what is waiting, then end (if Redis is away: end without it)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._ship()
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _ship(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._in_flight and not self._stopping:
                    self._cond.wait()
                if self._stopping and (self.failures or not self._pending) and not self._in_flight:
                    return
                if not self._in_flight:
                    taken = self._pending[: self.max_entry_lines]
                    del self._pending[: self.max_entry_lines]
                    self._in_flight = len(taken)
                else:
                    taken = []  # held in the log: flush it
            try:
                end = self.log.append(taken) if taken else self.log.flush()
            except StoreUnavailable:
                with self._cond:
                    self.failures += 1
                    delay = self._delays[min(self.failures - 1, len(self._delays) - 1)]
                    if self._cond.wait_for(lambda: self._stopping, delay):
                        return
                continue
            except LogLost as exc:
                self._on_lost(str(exc))
                with self._cond:
                    self._stopping = True
                    self._cond.notify_all()
                return
            with self._cond:
                self.failures = 0
                self.shipped_end = end[-1] if isinstance(end, range) else end
                self._in_flight = 0
                self._cond.notify_all()
