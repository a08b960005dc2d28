"""Flood control and connection limits, sans-IO: a clock in, verdicts out.

The server's reader thread asks a :class:`ConnectionGuard` about every line
and every wait, and the accept thread asks an :class:`AddressCounter` about
every newcomer.  Neither touches a socket or reads the real clock by itself
(the clock is a parameter), so every rule below is tested with plain function
calls and a fake clock.

The defences, each a field of :class:`Limits` with a command-line flag:

* **Flood control**: a token bucket per connection.  It holds
  :attr:`~Limits.burst_lines` tokens and refills at
  :attr:`~Limits.lines_per_second`; each line costs one.  A line that finds
  the bucket empty is discarded, the first with a notice to its sender; a
  flood still going on :attr:`~Limits.flood_grace_seconds` after that notice
  ends with a disconnect.  A one-off paste gets a warning, a bot gets dropped.
* **Connections per address**: one machine cannot take all the seats.
* **Deadlines against slowloris**: a started line must end within
  :attr:`~Limits.line_seconds`, the TLS and password handshake must be over
  within :attr:`~Limits.handshake_seconds`, and (off by default, since a
  reader who never types is a normal chat user) a connection silent for
  :attr:`~Limits.idle_seconds` is closed.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, fields
from typing import Callable

from tcpchat import protocol

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limits:
    """The server's defences.  Zero turns a limit off."""

    lines_per_second: float = 10.0
    """Sustained chat rate per connection.  Typing manages one line a second."""
    burst_lines: int = 100
    """Lines a connection may send at once (a paste) before the rate applies."""
    flood_grace_seconds: float = 10.0
    """How long lines may go on being discarded after the warning before a disconnect."""
    max_connections_per_address: int = 32
    """Connections one source address may hold at once."""
    handshake_seconds: float = 10.0
    """Time from connecting to a finished TLS handshake and accepted password."""
    line_seconds: float = 60.0
    """Time a started line may take to end (a slowloris never ends its line)."""
    idle_seconds: float = 0.0
    """Time without a complete line before a connection is closed (off by default)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) < 0:
                raise ValueError(f"{field.name} cannot be negative")

    @classmethod
    def unlimited(cls) -> Limits:
        """Every defence off: for benchmarks and trusted networks."""
        return cls(**{field.name: 0 for field in fields(cls)})


class TokenBucket:
    """*rate* tokens a second, at most *capacity* saved up; starts full."""

    def __init__(self, rate: float, capacity: float, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and room for one token")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    @property
    def full(self) -> bool:
        return self.tokens >= self.capacity

    def take(self) -> bool:
        """Spend one token if there is one; False means over the rate."""
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)  # a clock that steps back refills nothing
        self._stamp = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)


class Verdict(enum.Enum):
    """What to do with one received line."""

    PASS = "pass"
    """Relay it."""
    WARN = "warn"
    """Discard it and tell the sender why (the first line of a flood)."""
    DISCARD = "discard"
    """Discard it quietly: the sender has been told."""
    DISCONNECT = "disconnect"
    """Discard it and close the connection: the flood went on too long."""


class FloodControl:
    """The per-connection rate limit: a token bucket plus the flood's start.

    A flood starts with the first discarded line and ends once the bucket is
    full again, that is after ``burst_lines / lines_per_second`` seconds of
    calm.  Only a discard later than the grace period into a flood disconnects.
    """

    def __init__(self, limits: Limits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._bucket: TokenBucket | None = None
        if limits.lines_per_second > 0 and limits.burst_lines > 0:
            self._bucket = TokenBucket(limits.lines_per_second, limits.burst_lines, clock)
        self._flood_since: float | None = None

    @property
    def flooding(self) -> bool:
        return self._flood_since is not None

    def check(self) -> Verdict:
        """One line arrived: may it pass?"""
        bucket = self._bucket
        if bucket is None:
            return Verdict.PASS
        if self._flood_since is not None and bucket.full:
            self._flood_since = None  # calm for long enough: the flood is over
        if bucket.take():
            return Verdict.PASS
        now = self._clock()
        if self._flood_since is None:
            self._flood_since = now
            return Verdict.WARN
        if now - self._flood_since > self.limits.flood_grace_seconds:
            return Verdict.DISCONNECT
        return Verdict.DISCARD

    def warning(self) -> str:
        """The notice text for :attr:`Verdict.WARN` (without the ``* ``)."""
        return protocol.FLOOD_WARNING.format(
            rate=f"{self.limits.lines_per_second:g}", grace=f"{self.limits.flood_grace_seconds:g}"
        )

    def disconnect_reason(self) -> str:
        """The leave reason for :attr:`Verdict.DISCONNECT`, as the others see it."""
        return f"flooding: over {self.limits.lines_per_second:g} lines a second"


class ConnectionGuard:
    """Everything the reader of one connection asks before and after ``recv()``.

    Use from one thread (the connection's reader)::

        timeout = guard.seconds_left()       # None: no deadline, block freely
        ...wait up to timeout for data; if none came:
            close with guard.expired_reason()
        frames = buffer.feed(data)
        guard.received(lines, buffer.pending_bytes > 0 or buffer.discarding)
        for each line: guard.check_line() -> Verdict
    """

    def __init__(self, limits: Limits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self.flood = FloodControl(limits, clock)
        self._clock = clock
        now = clock()
        self._last_line = now
        self._line_started: float | None = None

    def seconds_left(self) -> float | None:
        """Seconds until this connection must be closed; None if there is no deadline."""
        deadline = self._deadline()
        return None if deadline is None else max(0.0, deadline - self._clock())

    def expired_reason(self) -> str | None:
        """Why the connection must be closed now, or None if it may stay."""
        deadline = self._deadline()
        if deadline is None or self._clock() < deadline:
            return None
        if self._line_started is not None and self.limits.line_seconds > 0:
            line_deadline = self._line_started + self.limits.line_seconds
            if line_deadline <= deadline:
                return f"timed out: a line was left unfinished for {self.limits.line_seconds:g} s"
        return f"timed out: idle for {self.limits.idle_seconds:g} s"

    def received(self, complete_lines: int, partial_line: bool) -> None:
        """Data arrived: *complete_lines* ended, and a line is (still) unfinished or not."""
        now = self._clock()
        if complete_lines:
            self._last_line = now
            self._line_started = now if partial_line else None
        elif partial_line and self._line_started is None:
            self._line_started = now

    def check_line(self) -> Verdict:
        """A complete line arrived: may it pass?  See :class:`FloodControl`."""
        return self.flood.check()

    def _deadline(self) -> float | None:
        deadlines = []
        if self._line_started is not None and self.limits.line_seconds > 0:
            deadlines.append(self._line_started + self.limits.line_seconds)
        if self.limits.idle_seconds > 0:
            deadlines.append(self._last_line + self.limits.idle_seconds)
        return min(deadlines, default=None)


class AddressCounter:
    """Connections held per source address, refused beyond the limit.

    Not thread-safe: the server calls it under its lock.  A limit of 0 means
    no limit (counting goes on, so the figures can be reported).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def count(self, host: str) -> int:
        return self._counts.get(host, 0)

    def __len__(self) -> int:
        """Addresses currently holding at least one connection."""
        return len(self._counts)

    def admit(self, host: str) -> bool:
        """Count one more connection from *host*, unless it is at the limit."""
        held = self._counts.get(host, 0)
        if self.limit and held >= self.limit:
            return False
        self._counts[host] = held + 1
        return True

    def release(self, host: str) -> None:
        """One connection from *host* has gone; forget hosts with none left."""
        held = self._counts.get(host, 0)
        if held <= 1:
            self._counts.pop(host, None)
        else:
            self._counts[host] = held - 1

    def refusal(self, host: str) -> str:
        """The notice text for a refused connection (without the ``* ``)."""
        return protocol.TOO_MANY_CONNECTIONS.format(host=host, limit=self.limit)
