"""The load generator: many chat clients in one process, one ``epoll`` loop.

A thread per client would make the load generator the bottleneck, so every
client is a non-blocking socket in one ``select.epoll``.  The hot path does
as little Python as it can: a client that only listens does one ``recv`` of
up to 256 KiB and one ``bytes.count(b"\\n")`` per wake-up, and keeps the
chunk for the checks made after the clock stops.

A *sender* also looks for its own messages in what it receives (everyone,
sender included, gets every line): each one acknowledges a message, which
lets it send another (at most ``window`` in flight), and carries the
``time.monotonic_ns()`` at which it was sent, which gives its latency.
A message looks like ``~03~000042~<ns>~xxxx`` (sender 3, number 42).

Several servers of one room (issue 12) take the clients in turn: client
*i* connects to address *i* mod *n*, so senders and listeners are split
across them too.  Each chunk received is stamped with the clock, so after
the run every line also gets its *all* latency: from its send to the moment
the last client, on whichever server, had it.  That is when a line counts as
delivered; the echo latency (p50/p99) is only the sender's own server.

After the clock stops, the run is checked: every client got exactly the
expected number of lines, all of them byte for byte the same stream (one
total order, across servers too), and in that stream every sender's numbers
run 0, 1, 2, ... with none missing or repeated (no loss, no reordering).
"""

from __future__ import annotations

import hashlib
import re
import resource
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence, Union

RECV_BYTES = 256 * 1024
CONNECT_BATCH = 50
MESSAGE_PAD = 24
"""Payload bytes after the header, so a message is about 50 bytes on the wire."""


@dataclass(frozen=True)
class Scenario:
    """One load: *clients* connected, *senders* of them sending *messages* each."""

    name: str
    clients: int
    senders: int
    messages: int
    window: int
    """Messages a sender may have sent but not yet seen come back."""
    title: str

    @property
    def deliveries(self) -> int:
        return self.clients * self.senders * self.messages


@dataclass
class Result:
    """What one run measured (times in seconds, latencies in microseconds)."""

    elapsed: float = 0.0
    deliveries: int = 0
    deliveries_per_s: float = 0.0
    messages_per_s: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    all_p50_us: float = 0.0
    """Send to the moment the *last* client (on any server) had the line."""
    all_p99_us: float = 0.0
    loadgen_cpu: float = 0.0
    """Fraction of one core the load generator used while measuring."""
    setup_s: float = 0.0
    ok: bool = False
    problems: list[str] = field(default_factory=list)


class _Client:
    __slots__ = (
        *("acked", "chunks", "latencies", "lines", "marks", "number", "pattern"),
        *("pending", "sent", "sock", "synced"),
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.number = -1  # a sender's number, from 0
        self.synced = 0  # sync tokens seen
        self.chunks: list[bytes] = []
        self.lines = 0
        self.marks: list[tuple[int, int]] = []  # (lines so far, monotonic_ns) per chunk
        self.pending = b""  # a sender's unfinished last line
        self.pattern: re.Pattern[bytes] | None = None  # set for senders
        self.sent = 0
        self.acked = 0
        self.latencies: list[int] = []


def _message(sender: int, number: int) -> bytes:
    return b"~%02d~%06d~%d~%s\n" % (sender, number, time.monotonic_ns(), b"x" * MESSAGE_PAD)


Hook = Callable[[], object]
Address = tuple[str, int]


def _greeted(batch: list[_Client]) -> Callable[[], bool]:
    return lambda: all(client.lines for client in batch)


def _nothing() -> None:
    pass


class LoadGenerator:
    """Connect, synchronise, measure and check one :class:`Scenario` run."""

    def __init__(
        self, address: Union[Address, list[Address]], scenario: Scenario, timeout: float
    ) -> None:
        """*address*: one server's, or a list of a room's servers to share the clients."""
        self.addresses = address if isinstance(address, list) else [address]
        if scenario.clients < len(self.addresses):
            raise ValueError(f"{scenario.clients} clients cannot reach every server")
        self.scenario = scenario
        self.deadline = time.monotonic() + timeout
        self.epoll = select.epoll()
        self.clients: dict[int, _Client] = {}

    def run(self, on_start: Hook = _nothing, on_stop: Hook = _nothing) -> Result:
        """Set up, measure (calling *on_start* and *on_stop* around it), check.

        The clients stay connected until :meth:`close`, so the caller can
        read the server's state first.
        """
        result = Result()
        try:
            started = time.monotonic()
            self._connect_all()
            self._synchronise()
            result.setup_s = time.monotonic() - started
            on_start()
            self._measure(result)
            on_stop()
            self._check(result)
        except (OSError, TimeoutError) as exc:
            result.problems.append(f"{type(exc).__name__}: {exc}")
        result.ok = not result.problems
        return result

    def close(self) -> None:
        for client in self.clients.values():
            client.sock.close()
        self.epoll.close()

    # -- setting up --------------------------------------------------------

    def _connect_all(self) -> None:
        """Connect in batches, each waiting for its greetings, so no backlog overflows."""
        total, addresses = self.scenario.clients, self.addresses
        while len(self.clients) < total:
            batch = []
            for _ in range(min(CONNECT_BATCH, total - len(self.clients))):
                address = addresses[len(self.clients) % len(addresses)]
                sock = socket.create_connection(address, timeout=10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(False)
                client = _Client(sock)
                self.clients[sock.fileno()] = client
                self.epoll.register(sock.fileno(), select.EPOLLIN)
                batch.append(client)
            self._pump_until(_greeted(batch), "greetings")

    def _synchronise(self) -> None:
        """One line through each server marks the end of set-up chatter for everyone.

        A server's join notices reach the room before the line its first
        client sends after them; the clients' streams are one order, so the
        same token comes last in each, and everything after it is the run's.
        """
        clients = list(self.clients.values())
        tokens = [b"sync-%d-%d\n" % (n, time.monotonic_ns()) for n in range(len(self.addresses))]
        for client, token in zip(clients[: len(tokens)], tokens, strict=True):  # one per server
            client.sock.sendall(token)
        self._pump_until(lambda: all(c.synced == len(tokens) for c in clients), "sync", tokens)
        for client in clients:
            data = b"".join(client.chunks)
            cut = max(data.rindex(token) + len(token) for token in tokens)
            client.chunks = [data[cut:]]
            client.lines = client.chunks[0].count(b"\n")
            client.pending = b""

    def _pump_until(
        self, done: Callable[[], bool], what: str, tokens: Sequence[bytes] = ()
    ) -> None:
        """Read whatever arrives until *done*; count the *tokens* each client has seen."""
        while not done():
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            for fd, _ in self.epoll.poll(0.5):
                client = self.clients[fd]
                data = client.sock.recv(RECV_BYTES)
                if not data:
                    raise OSError(f"server closed a connection while waiting for {what}")
                client.chunks.append(data)
                client.lines += data.count(b"\n")
                if tokens:  # each comes once, on a line of its own: count whole lines
                    seen = client.pending + data
                    cut = seen.rfind(b"\n") + 1
                    client.synced += sum(seen.count(token, 0, cut) for token in tokens)
                    client.pending = seen[cut:]

    # -- measuring ---------------------------------------------------------

    def _measure(self, result: Result) -> None:
        scenario = self.scenario
        clients = list(self.clients.values())
        senders = clients[: scenario.senders]
        for number, sender in enumerate(senders):
            sender.number = number
            sender.pattern = re.compile(rb"~%02d~\d+~(\d+)~" % number)
        expected = scenario.senders * scenario.messages
        for client in clients:
            if client.lines:
                result.problems.append("a client received lines before the start")
            client.lines = 0
            client.chunks = []
            client.marks = []
        unfinished = len(clients)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        for sender in senders:
            self._send(sender, scenario.window)
        poll, epoll_deadline, clock = self.epoll.poll, self.deadline, time.monotonic_ns
        while unfinished:
            events = poll(1.0)
            if not events and time.monotonic() > epoll_deadline:
                result.problems.append(f"timed out: {unfinished} clients still waiting")
                break
            for fd, _ in events:
                client = self.clients[fd]
                data = client.sock.recv(RECV_BYTES)
                if not data:
                    raise OSError("the server closed a connection during the run")
                client.chunks.append(data)
                client.lines += data.count(b"\n")
                now = clock()
                client.marks.append((client.lines, now))
                if client.lines >= expected:
                    unfinished -= 1
                    self.epoll.unregister(fd)
                if client.pattern is not None:
                    self._acknowledge(client, data, now)
        result.elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        result.loadgen_cpu = cpu / result.elapsed
        result.deliveries = sum(min(c.lines, expected) for c in clients)
        result.deliveries_per_s = result.deliveries / result.elapsed
        result.messages_per_s = expected / result.elapsed
        latencies = [x for sender in senders for x in sender.latencies]
        result.p50_us, result.p99_us = _percentiles(latencies)

    def _acknowledge(self, sender: _Client, data: bytes, now: int) -> None:
        """Find the sender's own messages in *data*, come at *now*: latency, room to send."""
        assert sender.pattern is not None
        data = sender.pending + data
        cut = data.rfind(b"\n") + 1
        sender.pending = data[cut:]
        for match in sender.pattern.finditer(data, 0, cut):
            sender.latencies.append(now - int(match.group(1)))
            sender.acked += 1
        room = sender.acked + self.scenario.window - sender.sent
        if room > 0:
            self._send(sender, room)

    def _send(self, sender: _Client, count: int) -> None:
        count = min(count, self.scenario.messages - sender.sent)
        if count <= 0:
            return
        batch = b"".join(_message(sender.number, sender.sent + i) for i in range(count))
        sender.sent += count
        sender.sock.setblocking(True)  # a few KiB: never blocks for long
        try:
            sender.sock.sendall(batch)
        finally:
            sender.sock.setblocking(False)

    # -- checking ----------------------------------------------------------

    def _check(self, result: Result) -> None:
        scenario = self.scenario
        expected = scenario.senders * scenario.messages
        streams = [b"".join(c.chunks) for c in self.clients.values()]
        short = [len(s) for s in streams if s.count(b"\n") != expected]
        if short:
            result.problems.append(f"{len(short)} clients did not get exactly {expected} lines")
        digests = {hashlib.sha256(s).digest() for s in streams}
        if len(digests) != 1:
            result.problems.append(f"clients saw {len(digests)} different streams (order broken)")
        numbers = re.findall(rb"~(\d\d)~(\d+)~(\d+)~", streams[0])
        if len(numbers) != expected:
            result.problems.append(f"{len(numbers)} of {expected} lines are well-formed")
        elif not short:
            sent = [int(stamp) for _, _, stamp in numbers]
            result.all_p50_us, result.all_p99_us = _percentiles(self._all_latencies(sent))
        next_number = [0] * scenario.senders
        disorder = 0
        for sender, number, _ in numbers:
            index = int(sender)
            if int(number) != next_number[index]:
                disorder += 1
            next_number[index] = int(number) + 1
        if disorder or any(n != scenario.messages for n in next_number):
            result.problems.append(f"lost or reordered: {disorder} out-of-sequence messages")

    def _all_latencies(self, sent: list[int]) -> list[int]:
        """Per line, in stream order: from *sent* to when the last client had it (ns)."""
        latest = [0] * len(sent)
        for client in self.clients.values():
            start = 0
            for lines, stamp in client.marks:  # lines start..lines arrived at stamp
                end = min(lines, len(sent))
                if end > start:
                    latest[start:end] = [max(stamp, x) for x in latest[start:end]]
                    start = end
        return [last - first for last, first in zip(latest, sent, strict=True)]


def _percentiles(latencies_ns: list[int]) -> tuple[float, float]:
    """p50 and p99 in microseconds (0, 0 for none)."""
    if not latencies_ns:
        return 0.0, 0.0
    ordered = sorted(latencies_ns)
    p99 = ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
    return ordered[len(ordered) // 2] / 1000, p99 / 1000
