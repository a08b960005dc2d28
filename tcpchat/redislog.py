"""The room's log on a Redis stream, shared by several servers (issue 12).

Several servers serve one room; each appends its broadcasts to one Redis
stream, ``tcpchat:{ROOM}:log``, and delivers to its own clients what the
stream holds, in the stream's order, so clients on different servers see one
order.  (The braces make ``{ROOM}`` a hash tag: every key of a room lands in
one slot, so the scripts below also run on a Redis Cluster.)

Positions
---------
A position is an ``int``, the count of lines the room has ever had, as in
:class:`tcpchat.chatlog.MemoryLog`, but *global*: a client that counts the
lines it got can resume at that count on any server.  One Lua script appends
a batch atomically: it ``INCRBY``-s the counter ``tcpchat:{ROOM}:end`` by the
batch's line count and ``XADD``-s one entry holding the lines, joined, with
``MAXLEN ~`` trimming.  The entry's ID is ``END-0`` and its fields are
``end`` (that same position), ``n`` (its line count) and ``lines``, so the
entry holding any position is found with one ``XRANGE (AFTER-0 +``, no search.
Positions mean something only together with the **log ID**, a random token
``SET NX`` once in ``tcpchat:{ROOM}:id``: if Redis loses its data, a new log
starts under a new ID and the script refuses to append to it (:class:`LogLost`)
instead of mixing two numberings.

Exactly once
------------
A command that timed out may still run later (it waits in the socket buffer
of a stopped Redis).  So each batch carries this writer's sequence number,
the count of lines it has appended so far, this batch's included, and the
script records the last one it applied, in ``tcpchat:{ROOM}:writer:ID``;
sending a batch again returns where it went the first time instead of adding
it twice.  Batches are sent in order and the next is sent only once the one
before is known, so only the last batch can ever be in doubt.  The entry
keeps the writer's ID and that count (fields ``w``, ``k``): a server that
must place a reply after its own broadcasts knows, from its mirror, when
they have come back (:attr:`Entry.upto`).

When Redis is away
------------------
:meth:`RedisLog.append` never drops a line.  If Redis cannot be reached, the
batch is *held* here, in order, and :class:`StoreUnavailable` tells the
caller, who holds back its senders (backpressure) until :meth:`RedisLog.flush`
succeeds; once ``max_held_lines`` are held, a batch is refused instead
(:class:`StoreFull`, nothing of it kept) and the caller tells its sender.

The local mirror
----------------
The server reads cursors constantly, so it does not read Redis for them: a
:class:`Follower` thread ``XREAD BLOCK``-s the stream from the last entry it
saw and hands every entry, in stream order, to a callback, which appends
them to the server's local :class:`~tcpchat.chatlog.MemoryLog` and fans out.
Local appends do *not* go to the mirror directly, so every server's mirror
is the stream's order.  The follower reconnects with back-off, reports
trouble once (:data:`DOWN`) and recovery once (:data:`UP`), and catches up
from its last entry, so nothing is lost or doubled; a stretch trimmed away
meanwhile is reported as a :data:`GAP`.

Connecting, and turning Redis's failures into one-line errors, is
:mod:`tcpchat.redisconn`'s job (shared with :mod:`tcpchat.presence`).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any, Callable, NamedTuple, Sequence

from tcpchat.chatlog import Trimmed
from tcpchat.redisconn import (
    LogLost,
    StoreFull,
    StoreUnavailable,
    call,
    check_room,
    load_redis,
    open_client,
)
from tcpchat.threads import start_thread

DOWN, UP, GAP, LOST = "down", "up", "gap", "lost"
"""What a :class:`Follower` tells its ``on_trouble`` callback (with a one-line message)."""

_APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('TCPCHAT_LOG_LOST the log ID changed (Redis lost its data)')
end
local last = redis.call('GET', KEYS[4])
if last then
  local seq, done = string.match(last, '(%d+) (%d+)')
  if seq == ARGV[2] then return tonumber(done) end
end
local e = redis.call('INCRBY', KEYS[2], ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], string.format('%d-0', e),
  'end', e, 'n', ARGV[3], 'lines', ARGV[5], 'w', ARGV[6], 'k', ARGV[2])
redis.call('SET', KEYS[4], ARGV[2] .. ' ' .. string.format('%d', e), 'PX', 86400000)
return e
"""
"""KEYS: id, end, log, writer; ARGV: log ID, sequence, line count, MAXLEN, lines, writer ID."""


class Entry(NamedTuple):
    """One stream entry: a batch of lines and where it sits in the room's history."""

    start: int
    """The position before its first line."""
    end: int
    """The position after its last line (the entry's ID is ``END-0``)."""
    lines: list[bytes]
    """The encoded lines, newline included."""
    writer: str = ""
    """The :attr:`RedisLog.writer_id` of the server that appended it."""
    upto: int = 0
    """That writer's count of lines appended, this entry's included (its ticket)."""


class RedisLog:
    """A room's log on a Redis stream (see the module docstring).

    :meth:`append` and :meth:`flush` are called by one thread at a time (the
    :class:`tcpchat.redisship.Shipper`'s); :attr:`end`, :meth:`read_range`
    and :meth:`follow` from any thread (redis-py's pool is thread-safe; the
    follower has a client of its own).
    """

    def __init__(
        self, client: Any, url: str, room: str, *, max_entries: int, max_held_lines: int
    ) -> None:
        self.client = client
        self.url = url
        self.room = check_room(room)
        self.max_entries = max_entries
        self.max_held_lines = max_held_lines
        self._redis = load_redis()
        prefix = f"tcpchat:{{{room}}}"
        self.keys = {k: f"{prefix}:{k}" for k in ("id", "end", "log")}
        self.writer_id = secrets.token_hex(8)
        self._writer_key = f"{prefix}:writer:{self.writer_id}"
        self._script = client.register_script(_APPEND)
        self.written = 0
        """Lines given to :meth:`append` so far (a batch's sequence number: see above)."""
        self._held: list[tuple[int, list[bytes]]] = []  # (sequence, lines), oldest first
        self.log_id = self._call(self._claim_id)

    @classmethod
    def connect(
        cls,
        url: str,
        room: str = "tcpchat",
        *,
        max_entries: int = 10_000,
        max_held_lines: int = 10_000,
        timeout: float = 2.0,
        retry: Callable[[str, int], bool] | None = None,
    ) -> RedisLog:
        """The log of *room* on the Redis at *url*; a one-line :class:`ChatError` if not.

        If Redis cannot be reached, *retry* (if given) is called with the
        reason and the failures so far; it waits (say, with back-off) and
        returns whether to try again.  Without it, :class:`StoreUnavailable`.
        """
        check_room(room)
        client = open_client(url, timeout)
        failures = 0
        while True:
            try:
                return cls(
                    client, url, room, max_entries=max_entries, max_held_lines=max_held_lines
                )
            except StoreUnavailable as exc:
                if retry is None or not retry(str(exc), failures):
                    raise
                failures += 1

    @property
    def end(self) -> int:
        """The room's end position in Redis now (the follower may not be there yet)."""
        value = self._call(lambda: self.client.get(self.keys["end"]))
        return int(value or 0)

    @property
    def held_lines(self) -> int:
        """Lines appended while Redis was away, not yet in the stream."""
        return sum(len(lines) for _, lines in self._held)

    def append(self, lines: Sequence[bytes]) -> range:
        """Append *lines* as one entry; their positions (as :meth:`MemoryLog.append`).

        While anything is held (Redis was found away), a batch is only held,
        after the others, without trying Redis again: that is :meth:`flush`'s
        job, so a server waits for a lost Redis once per outage, not once per
        batch.  :class:`StoreUnavailable` if the batch is held,
        :class:`StoreFull` if it is refused (nothing of it kept).
        """
        if not lines:
            return range(0)
        if self._held:
            held = self.held_lines
            if held + len(lines) > self.max_held_lines:
                message = f"the chat store is unreachable and {held} lines wait for it"
                raise StoreFull(message, held)
            self.written += len(lines)
            self._held.append((self.written, list(lines)))
            raise StoreUnavailable("the chat store is unreachable", self.held_lines)
        self.written += len(lines)
        self._held.append((self.written, list(lines)))
        end = self.flush()
        return range(end - len(lines) + 1, end + 1)

    def flush(self) -> int:
        """Send the held batches, oldest first; the end position after the last one.

        :class:`StoreUnavailable` (with what is still held) if Redis is still away.
        """
        end = 0
        while self._held:
            try:
                end = self._send(*self._held[0])
            except StoreUnavailable as exc:
                raise StoreUnavailable(str(exc), self.held_lines) from None
            del self._held[0]
        return end

    def _send(self, seq: int, lines: list[bytes]) -> int:
        """Run the append script for one batch (again, if it is in doubt)."""
        keys = [self.keys["id"], self.keys["end"], self.keys["log"], self._writer_key]
        args = [self.log_id, seq, len(lines), self.max_entries, b"".join(lines), self.writer_id]
        return int(self._call(lambda: self._script(keys=keys, args=args)))

    def read_range(self, after: int, limit: int = 1000) -> list[bytes]:
        """Up to about *limit* lines after position *after*, straight from Redis.

        Whole entries are read (the first cut at *after*), so a few more
        lines than *limit* may come.  :class:`Trimmed` if *after* is older
        than the stream keeps; ``ValueError`` if it is not a position of the log.
        """
        if after < 0:
            raise ValueError(f"position {after} is negative")
        entries = self._entries_after(after, 1)
        if not entries:
            end = self.end
            if after > end:
                raise ValueError(f"position {after} is past the end of the log ({end})")
            if after < end:  # everything after it was trimmed away
                raise Trimmed(end - after, end)
            return []
        if entries[0].start > after:
            oldest = self._oldest()
            raise Trimmed(oldest - after, oldest)
        lines = entries[0].lines[after - entries[0].start :]
        last = entries[0].end
        while len(lines) < limit:
            more = self._entries_after(last, min(limit - len(lines), 1000))
            if not more:
                break
            for entry in more:
                lines.extend(entry.lines)
            last = more[-1].end
        return lines

    def _entries_after(self, position: int | None, count: int) -> list[Entry]:
        """Up to *count* entries holding the lines after *position* (by ID: ``END-0``).

        From the oldest entry kept if *position* is None.
        """
        key, start = self.keys["log"], "-" if position is None else f"({position}-0"
        found = self._call(lambda: self.client.xrange(key, start, "+", count))
        return [to_entry(fields) for _, fields in found]

    def follow(
        self,
        after: int,
        callback: Callable[[list[Entry]], None],
        on_trouble: Callable[[str, str], None],
        **options: Any,
    ) -> Follower:
        """Start a :class:`Follower` that delivers every entry after position *after*."""
        follower = Follower(self, after, callback, on_trouble, **options)
        follower.start()
        return follower

    def _oldest(self) -> int:
        """The oldest position the stream still holds the line after."""
        first = self._entries_after(None, 1)
        return first[0].start if first else self.end

    def _claim_id(self) -> str:
        self.client.set(self.keys["id"], secrets.token_hex(16), nx=True)
        return bytes(self.client.get(self.keys["id"])).decode()

    def _call(self, action: Callable[[], Any]) -> Any:
        """Run *action*, turning Redis failures into one-line errors."""
        return call(self._redis, self.url, action)


def to_entry(fields: dict[bytes, bytes]) -> Entry:
    """An :class:`Entry` from a stream entry's fields (lines cut at ``\\n`` only)."""
    end, count = int(fields[b"end"]), int(fields[b"n"])
    parts = fields[b"lines"].split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:  # a line without its newline: kept as it came
        lines.append(parts[-1])
    return Entry(end - count, end, lines, fields[b"w"].decode(), int(fields[b"k"]))


class Follower:
    """A thread that hands every stream entry after a position to a callback, in order.

    ``callback(entries)`` gets the entries of one read (a list, oldest
    first), so the server can take its lock once per read.  On a failure
    the follower calls ``on_trouble(DOWN, reason)`` once, retries after each
    of *retry_delays* (the last repeating) and, reconnected, calls
    ``on_trouble(UP, ...)`` and reads on from the last entry it delivered.
    ``on_trouble(GAP, ...)`` comes before an entry that does not start where
    the last one ended (trimmed away meanwhile); ``on_trouble(LOST, ...)`` if
    the log ID changed (checked on reconnecting and whenever the stream was
    quiet for *block_seconds*), after which the follower stops.
    """

    def __init__(
        self,
        log: RedisLog,
        after: int,
        callback: Callable[[list[Entry]], None],
        on_trouble: Callable[[str, str], None],
        *,
        block_seconds: float = 1.0,
        timeout: float = 5.0,
        count: int = 1000,
        retry_delays: Sequence[float] = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0),
    ) -> None:
        self.log = log
        self.position = after
        """The end of the last entry delivered."""
        self._callback = callback
        self._on_trouble = on_trouble
        self._block_ms = max(1, int(block_seconds * 1000))
        self._count = count
        self._delays = tuple(retry_delays)
        self._client = open_client(log.url, block_seconds + timeout)
        self._redis = load_redis()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = start_thread(self._run, f"tcpchat-redis-follower {self.log.room}")

    def stop(self) -> None:
        """Ask the thread to end (within ``block_seconds``)."""
        self._stopping.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    if failures:
                        self._check_log()
                        self._on_trouble(UP, f"Redis at {self.log.url} is back")
                        failures = 0
                    self._read_once()
                except StoreUnavailable as exc:
                    if not failures:
                        self._on_trouble(DOWN, str(exc))
                    self._stopping.wait(self._delays[min(failures, len(self._delays) - 1)])
                    failures += 1
        except LogLost as exc:
            self._on_trouble(LOST, str(exc))
        finally:
            self._client.close()

    def _check_log(self) -> None:
        key = self.log.keys["id"]
        found = call(self._redis, self.log.url, lambda: self._client.get(key))
        if found is None or bytes(found).decode() != self.log.log_id:
            raise LogLost(f"the room's log at {self.log.url} was lost (Redis restarted empty?)")

    def _read_once(self) -> None:
        key = self.log.keys["log"]
        streams = {key: f"{self.position}-0"}
        read = call(
            self._redis,
            self.log.url,
            lambda: self._client.xread(streams, count=self._count, block=self._block_ms),
        )
        if not read:  # quiet for block_seconds: is it still the same log?
            self._check_log()
            return
        entries = [to_entry(fields) for _, fields in read[0][1]]
        first = entries[0]
        if first.start < self.position:  # started inside an entry: only its tail
            tail = first.lines[self.position - first.start :]
            entries[0] = first._replace(start=self.position, lines=tail)
        elif first.start > self.position:
            missed = entries[0].start - self.position
            self._on_trouble(GAP, f"{missed} lines were trimmed away before they were read")
        self.position = entries[-1].end
        self._callback(entries)
