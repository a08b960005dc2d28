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

After the clock stops, the run is checked: every client got exactly the
expected number of lines, all of them byte for byte the same stream (one
total order), and in that stream every sender's numbers run 0, 1, 2, ...
with none missing or repeated (no loss, no reordering).
"""

from __future__ import annotations

import hashlib
import re
import resource
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

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
    loadgen_cpu: float = 0.0
    """Fraction of one core the load generator used while measuring."""
    setup_s: float = 0.0
    ok: bool = False
    problems: list[str] = field(default_factory=list)


class _Client:
    __slots__ = (
        *("acked", "chunks", "latencies", "lines", "number", "pattern"),
        *("pending", "sent", "sock", "synced"),
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.number = -1  # a sender's number, from 0
        self.synced = False
        self.chunks: list[bytes] = []
        self.lines = 0
        self.pending = b""  # a sender's unfinished last line
        self.pattern: re.Pattern[bytes] | None = None  # set for senders
        self.sent = 0
        self.acked = 0
        self.latencies: list[int] = []


def _message(sender: int, number: int) -> bytes:
    return b"~%02d~%06d~%d~%s\n" % (sender, number, time.monotonic_ns(), b"x" * MESSAGE_PAD)


Hook = Callable[[], object]


def _greeted(batch: list[_Client]) -> Callable[[], bool]:
    return lambda: all(client.lines for client in batch)


def _nothing() -> None:
    pass


class LoadGenerator:
    """Connect, synchronise, measure and check one :class:`Scenario` run."""

    def __init__(self, address: tuple[str, int], scenario: Scenario, timeout: float) -> None:
        self.address = address
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
        total = self.scenario.clients
        while len(self.clients) < total:
            batch = []
            for _ in range(min(CONNECT_BATCH, total - len(self.clients))):
                sock = socket.create_connection(self.address, timeout=10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(False)
                client = _Client(sock)
                self.clients[sock.fileno()] = client
                self.epoll.register(sock.fileno(), select.EPOLLIN)
                batch.append(client)
            self._pump_until(_greeted(batch), "greetings")

    def _synchronise(self) -> None:
        """One line through the server marks the end of set-up chatter for everyone."""
        token = b"sync-%d\n" % time.monotonic_ns()
        first = next(iter(self.clients.values()))
        first.sock.sendall(token)
        clients = list(self.clients.values())
        self._pump_until(lambda: all(c.synced for c in clients), "the sync line", token)
        for client in clients:
            data = b"".join(client.chunks)
            client.chunks = [data[data.index(token) + len(token) :]]
            client.lines = client.chunks[0].count(b"\n")
            client.pending = b""

    def _pump_until(self, done: Callable[[], bool], what: str, token: bytes = b"") -> None:
        """Read whatever arrives until *done*; note which clients have seen *token*."""
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
                if token and not client.synced:
                    seen = client.pending + data
                    client.synced = token in seen
                    client.pending = seen[-len(token) :]

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
        unfinished = len(clients)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        for sender in senders:
            self._send(sender, scenario.window)
        poll, epoll_deadline = self.epoll.poll, self.deadline
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
                if client.lines >= expected:
                    unfinished -= 1
                    self.epoll.unregister(fd)
                if client.pattern is not None:
                    self._acknowledge(client, data)
        result.elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        result.loadgen_cpu = cpu / result.elapsed
        result.deliveries = sum(min(c.lines, expected) for c in clients)
        result.deliveries_per_s = result.deliveries / result.elapsed
        result.messages_per_s = expected / result.elapsed
        latencies = sorted(x for sender in senders for x in sender.latencies)
        if latencies:
            result.p50_us = latencies[len(latencies) // 2] / 1000
            result.p99_us = latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)] / 1000

    def _acknowledge(self, sender: _Client, data: bytes) -> None:
        """Find the sender's own messages in *data*: latency, and room to send more."""
        assert sender.pattern is not None
        now = time.monotonic_ns()
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
        numbers = re.findall(rb"~(\d\d)~(\d+)~", streams[0])
        if len(numbers) != expected:
            result.problems.append(f"{len(numbers)} of {expected} lines are well-formed")
        next_number = [0] * scenario.senders
        disorder = 0
        for sender, number in numbers:
            index = int(sender)
            if int(number) != next_number[index]:
                disorder += 1
            next_number[index] = int(number) + 1
        if disorder or any(n != scenario.messages for n in next_number):
            result.problems.append(f"lost or reordered: {disorder} out-of-sequence messages")
