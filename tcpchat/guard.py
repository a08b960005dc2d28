"""Flood control and connection limits, sans-IO: a clock in, verdicts out.

The server's reader threads ask :class:`Sources` how long each line must
wait, the door asks it about every newcomer, and each reader asks its
:class:`ConnectionGuard` about deadlines.  None of them touches a socket or
reads the real clock by itself (the clock is a parameter), so every rule
below is tested with plain function calls and a fake clock.

The defences, each a field of :class:`Limits` with a command-line flag:

* **Pacing, not discarding** (the IRC "fake lag"): a token bucket per
  *source address*, holding :attr:`~Limits.burst_lines` tokens and refilling
  at :attr:`~Limits.lines_per_second`.  Every line costs one: chat, commands,
  over-long lines and lines that only earn an error reply alike.  A line that
  finds the bucket empty is *not* discarded: the server relays it when the
  bucket allows and, until then, stops reading from that connection, so TCP
  backpressure holds the excess in the sender's own buffers.  Nothing sent is
  lost, no one else waits, nobody is disconnected for rate alone; the sender
  is told once per flood that it is being slowed.  The budget belongs to the
  address, not the connection, so reconnecting does not refill it.
* **Joins per address** are paced the same way (:attr:`~Limits.joins_per_second`
  after a burst of :attr:`~Limits.burst_joins`): the door holds a newcomer
  over the rate before admitting it, which bounds the join and leave notices
  a connect-and-close loop can push to everyone.
* **Connections per address**: one machine cannot take all the seats.
* **Loopback is trusted by default**: peers on 127.0.0.0/8 and ::1 (also as
  ``::ffff:127.x``) are exempt from the three rules above, since they are
  users of this machine (301 local test clients, a pasted log), unless
  :attr:`~Limits.limit_loopback` is set: behind a local proxy or SSH tunnel
  every peer looks local.
* **Deadlines against slowloris**: a started line must end within
  :attr:`~Limits.line_seconds`, the TLS and password handshake must be over
  within :attr:`~Limits.handshake_seconds`, and (off by default, since a
  reader who never types is a normal chat user) a connection silent for
  :attr:`~Limits.idle_seconds` is closed.  Time the server itself spends
  pacing a connection does not count against it.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Callable, NamedTuple

from tcpchat import protocol

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limits:
    """The server's defences.  Zero turns a limit off."""

    lines_per_second: float = 10.0
    """Sustained line rate per source address.  Typing manages one line a second."""
    burst_lines: int = 100
    """Lines an address may send at once (a paste) before pacing starts."""
    flood_grace_seconds: float = 10.0
    """No effect since lines are paced, not discarded; kept so old command lines work."""
    max_connections_per_address: int = 32
    """Connections one source address may hold at once."""
    handshake_seconds: float = 10.0
    """Time from connecting to a finished TLS handshake and accepted password."""
    line_seconds: float = 60.0
    """Time a started line may take to end (a slowloris never ends its line)."""
    idle_seconds: float = 0.0
    """Time without a complete line before a connection is closed (off by default)."""
    joins_per_second: float = 1.0
    """Sustained rate of new connections per source address (the door paces the rest)."""
    burst_joins: int = 32
    """New connections an address may open at once before join pacing starts."""
    limit_loopback: bool = False
    """Apply the per-address limits to loopback peers too (a local proxy or tunnel)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) < 0:
                raise ValueError(f"{field.name} cannot be negative")

    @classmethod
    def unlimited(cls) -> Limits:
        """Every defence off: for benchmarks and trusted networks."""
        off: dict[str, float] = {field.name: 0 for field in fields(cls)}
        return cls(**off)  # type: ignore[arg-type]  # limit_loopback=0 is False


@functools.lru_cache(maxsize=4096)
def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``).

    Asked for every line a connection sends, so the answer is remembered per
    address: parsing an address costs more than the rest of a line's trip.
    """
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


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
        """Tokens available now (negative: owed to reservations)."""
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

    def reserve(self) -> float:
        """Spend one token, now or on credit: the seconds until it is really there.

        Reservations queue: each later one waits one token longer, so several
        waiters sharing a bucket are served in turn at its rate.
        """
        self._refill()
        wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
        self._tokens -= 1
        return wait

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)  # a clock that steps back refills nothing
        self._stamp = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)


class Pace(NamedTuple):
    """How long one line must wait, and whether to tell its sender it is being slowed."""

    wait: float
    warn: bool


PASS = Pace(0.0, False)


class FloodControl:
    """The line rate of one source address: a token bucket plus the flood's state.

    A flood starts with the first line that must wait, and ends once the
    bucket is full again, that is after ``burst_lines / lines_per_second``
    seconds of calm; each flood gets one warning.
    """

    def __init__(self, limits: Limits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._bucket: TokenBucket | None = None
        if limits.lines_per_second > 0 and limits.burst_lines > 0:
            self._bucket = TokenBucket(limits.lines_per_second, limits.burst_lines, clock)
        self._flooding = False

    @property
    def flooding(self) -> bool:
        return self._flooding

    @property
    def calm(self) -> bool:
        """Nothing owed, nothing saved used: forgetting this address changes nothing."""
        return self._bucket is None or self._bucket.full

    def check(self) -> Pace:
        """One line arrived: how long must it wait (its token is spent already)?"""
        bucket = self._bucket
        if bucket is None:
            return PASS
        if self._flooding and bucket.full:
            self._flooding = False  # calm for long enough: the flood is over
        wait = bucket.reserve()
        if wait <= 0:
            return PASS
        warn = not self._flooding
        self._flooding = True
        return Pace(wait, warn)


class ConnectionGuard:
    """The deadlines the reader of one connection asks about before each ``recv()``.

    Use from one thread (the connection's reader)::

        timeout = guard.seconds_left()       # None: no deadline, block freely
        ...wait up to timeout for data; if none came:
            close with guard.expired_reason()
        frames = buffer.feed(data)
        guard.received(lines, buffer.pending_bytes > 0 or buffer.discarding)
        ...after the server paced it for some seconds: guard.paused(seconds)
    """

    def __init__(self, limits: Limits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
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

    def paused(self, seconds: float) -> None:
        """The server stopped reading for *seconds* (pacing): that time is not the peer's."""
        self._last_line += seconds
        if self._line_started is not None:
            self._line_started += seconds

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

    def admit(self, host: str, *, limited: bool = True) -> bool:
        """Count one more connection from *host*, unless it is *limited* and at the limit."""
        held = self._counts.get(host, 0)
        if limited and self.limit and held >= self.limit:
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


class _Budget:
    """What one source address has left: its line rate and its join rate."""

    __slots__ = ("joins", "lines")

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self.lines = FloodControl(limits, clock)
        self.joins: TokenBucket | None = None
        if limits.joins_per_second > 0 and limits.burst_joins > 0:
            self.joins = TokenBucket(limits.joins_per_second, limits.burst_joins, clock)

    @property
    def calm(self) -> bool:
        return self.lines.calm and (self.joins is None or self.joins.full)


class Sources:
    """Every per-address rule in one registry: connections held, line and join budgets.

    A budget outlives its connections, so closing and reconnecting does not
    refill it; it is forgotten once it is full again and the address holds no
    connection (forgetting then changes nothing).  At most
    :attr:`max_addresses` budgets of addresses without connections are kept:
    beyond that the least recently used goes (an attacker with that many
    addresses is beyond per-address limits anyway).  Exempt addresses (see
    :meth:`exempt`) get no budget and no limit, only a count.

    Not thread-safe: the server calls it under its lock.
    """

    max_addresses = 4096

    def __init__(self, limits: Limits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self.connections = AddressCounter(limits.max_connections_per_address)
        self._clock = clock
        self._budgets: OrderedDict[str, _Budget] = OrderedDict()

    def __len__(self) -> int:
        """Addresses with a budget remembered."""
        return len(self._budgets)

    def exempt(self, host: str) -> bool:
        """True if the per-address rules do not apply to *host* (loopback, by default)."""
        return not self.limits.limit_loopback and is_loopback(host)

    def admit(self, host: str) -> bool:
        """Count a connection from *host*; False (not counted) if it holds too many."""
        return self.connections.admit(host, limited=not self.exempt(host))

    def release(self, host: str) -> None:
        """A connection from *host* has gone (admitted or refused after admitting)."""
        self.connections.release(host)
        self._forget_if_calm(host)

    def join_wait(self, host: str) -> float:
        """Seconds a newcomer from *host* must wait at the door before joining."""
        if self.exempt(host):
            return 0.0
        joins = self._budget(host).joins
        return 0.0 if joins is None else joins.reserve()

    def pace_line(self, host: str) -> Pace:
        """A line from *host* arrived: how long must it wait (spent already)?"""
        if self.exempt(host):
            return PASS
        return self._budget(host).lines.check()

    def warning(self) -> str:
        """The notice telling a sender its lines are being slowed (without the ``* ``)."""
        return protocol.FLOOD_WARNING.format(rate=f"{self.limits.lines_per_second:g}")

    def _budget(self, host: str) -> _Budget:
        budget = self._budgets.get(host)
        if budget is None:
            budget = self._budgets[host] = _Budget(self.limits, self._clock)
            self._prune()
        self._budgets.move_to_end(host)
        return budget

    def _forget_if_calm(self, host: str) -> None:
        budget = self._budgets.get(host)
        if budget is not None and not self.connections.count(host) and budget.calm:
            del self._budgets[host]

    def _prune(self) -> None:
        """Keep at most max_addresses budgets of idle addresses: calm ones go first, then LRU."""
        if len(self._budgets) <= self.max_addresses:
            return
        for host in list(self._budgets):
            self._forget_if_calm(host)
        for host in list(self._budgets):
            if len(self._budgets) <= self.max_addresses:
                break
            if not self.connections.count(host):
                del self._budgets[host]
