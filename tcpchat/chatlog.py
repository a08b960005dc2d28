"""The room's history: an append-only log of encoded lines, behind a small interface.

Every broadcast is appended once, in the room's single order; each reader
(a connection's cursor in :mod:`tcpchat.server.delivery`, later a client
resuming after a reconnect) remembers a *position* and asks for what came
after it.  :class:`ChatLog` names that seam, so the log can leave the process:
the in-memory :class:`MemoryLog` here, the file-backed
:class:`tcpchat.filelog.FileLog` (``tcpchat server --store DIR``: written
ahead to an append-only file, so the history and its positions survive a
crash and a restart).  A room served by several servers keeps its log in a
Redis stream, and each server a :class:`MemoryLog` *mirror* of it
(:mod:`tcpchat.server.cluster`).

Positions
---------
A position is an opaque token that only the store interprets: readers keep
it, compare it for equality, use it as a dict key and hand it back.  Each
line's position means "after this line", so reading *after* a line's position
gives what followed it, and :attr:`ChatLog.end` (after the last line) is
where a new reader starts.  For :class:`MemoryLog` and the file store it is
the count of lines appended so far (an ``int``); for a mirror of a Redis
stream, the count of lines the *room* has had, the same on every server.

Trimming
--------
History is bounded: :meth:`ChatLog.trim` is given the positions still needed
and frees what comes before the oldest of them.  A reader that asks for a
position trimmed away is told how many lines it missed (:class:`Trimmed`), and
where the history now starts, so it can go on from there and say so.

History
-------
:meth:`ChatLog.tail` gives the newest lines, for a client that joins and
should see what was said before it came.  A store may keep more for
:meth:`~ChatLog.tail` than it keeps readable by position: the file store keeps
its newest ``keep_lines`` lines on disk, while what :meth:`~ChatLog.trim`
frees is only its copy in memory.

Cost
----
A batch (the lines of one change of state) is stored as one joined entry, so
a busy room costs one append per batch, and a reader that is behind gets the
entries to send in one list.  Nothing here locks: the caller serialises calls
(the server does, under its lock).  Pure layer: no sockets, no threads.
"""

from __future__ import annotations

import bisect
import secrets
from typing import Hashable, Iterable, Protocol, Sequence

Position = Hashable
"""An opaque place in a log; only the store that gave it out interprets it."""


def new_log_id() -> str:
    """A fresh log id: 64 random bits in hex (positions mean something only with it)."""
    return secrets.token_hex(8)


class Trimmed(LookupError):
    """A position asked for is older than the history kept."""

    def __init__(self, missed: int, oldest: Position) -> None:
        super().__init__(f"{missed} lines were trimmed away before this position")
        self.missed = missed
        """How many lines the reader will never get."""
        self.oldest = oldest
        """The oldest position still readable: go on from here."""


class ChatLog(Protocol):
    """What the server needs of a history store (see the module docstring)."""

    @property
    def log_id(self) -> str:
        """Which log this is: a random token made with it (a restarted memory log has a new one)."""

    @property
    def end(self) -> Position:
        """The position after the last line: where a new reader starts."""

    @property
    def oldest(self) -> Position:
        """The oldest position still readable by :meth:`read` (:attr:`end` if none)."""

    @property
    def held_bytes(self) -> int:
        """Bytes held now (what :meth:`trim` has not freed)."""

    def append(self, lines: Sequence[bytes]) -> Sequence[Position]:
        """Add *lines* (encoded, newline included) as one batch; their positions, in order."""

    def read(self, after: Position, until: Position | None = None) -> list[bytes]:
        """The stored chunks of the lines after *after*, up to *until* (the end if None).

        *until* is a position :attr:`end` once had (a batch boundary).

        The chunks joined are the lines' bytes in order; how they are cut is
        the store's business.  :class:`Trimmed` if *after* is no longer kept.
        """

    def bytes_after(self, position: Position) -> int:
        """How many bytes :meth:`read` after *position* would return (0 if trimmed)."""

    def trim(self, needed: Iterable[Position]) -> None:
        """Free the lines before the oldest of *needed* (all of them if it is empty)."""

    def tail(self, count: int) -> list[bytes]:
        """The newest *count* lines kept, oldest first (fewer if fewer are kept)."""


class MemoryLog:
    """A :class:`ChatLog` in this process's memory; positions are line counts (``int``).

    The entries are kept with the line count and the byte offset each one
    starts at, so reading from a position at an entry boundary (where every
    reader's cursor is) is a bisection and a slice, and the bytes a reader is
    behind are a subtraction.  A log may *start* at a position other than 0:
    the file store reloads its newest lines into one after a restart.
    """

    __slots__ = ("_end", "_end_offset", "_entries", "_offsets", "_starts", "log_id")

    def __init__(self, start: int = 0) -> None:
        self._entries: list[bytes] = []  # each: one batch of lines, joined
        self._starts: list[int] = []  # position before each entry
        self._offsets: list[int] = []  # absolute byte offset where each entry starts
        self._end = start  # lines ever appended (counting from *start*)
        self._end_offset = 0  # bytes ever appended
        self.log_id = new_log_id()

    @property
    def end(self) -> int:
        return self._end

    @property
    def oldest(self) -> int:
        """The oldest position still readable."""
        return self._starts[0] if self._starts else self._end

    @property
    def held_bytes(self) -> int:
        """Bytes held now."""
        return self._end_offset - (self._offsets[0] if self._offsets else self._end_offset)

    def append(self, lines: Sequence[bytes]) -> range:
        first = self._end
        entry = b"".join(lines)
        self._entries.append(entry)
        self._starts.append(first)
        self._offsets.append(self._end_offset)
        self._end = first + len(lines)
        self._end_offset += len(entry)
        return range(first + 1, self._end + 1)

    def read(self, after: Position, until: Position | None = None) -> list[bytes]:
        assert isinstance(after, int)
        if after in (self._end, until):
            return []
        start = self._index(after)
        stop = len(self._entries) if until is None else self._index(until)
        inside = start < len(self._entries) and self._starts[start] != after
        if not inside and (stop == len(self._entries) or self._starts[stop] == until):
            return self._entries[start:stop]  # batch boundaries: every cursor's case
        # A resume or a history starts (or a reply sits) inside a batch: cut its lines.
        assert until is None or isinstance(until, int)
        last = self._end if until is None else until
        chunks = []
        for index in range(start, min(stop + 1, len(self._entries))):
            first = self._starts[index]
            lines = self._entries[index].split(b"\n")[:-1]
            low, high = max(after - first, 0), min(last - first, len(lines))
            if low < high:
                chunks.append(b"\n".join(lines[low:high]) + b"\n")
        return chunks

    def bytes_after(self, position: Position) -> int:
        assert isinstance(position, int)
        if position == self._end or position < self.oldest:
            return 0
        index = self._index(position)
        offset = self._offsets[index] if index < len(self._entries) else self._end_offset
        if index < len(self._entries) and self._starts[index] != position:
            skip = position - self._starts[index]
            entry = self._entries[index]
            offset += sum(len(line) + 1 for line in entry.split(b"\n")[:skip])
        return self._end_offset - offset

    def skip(self, to: int) -> None:
        """Go on from position *to*: the lines before it were never seen here.

        A mirror of a shared log (:mod:`tcpchat.server.cluster`) whose source
        trimmed lines away before they were read; reading across the hole
        gives the lines around it.
        """
        if to < self._end:
            raise ValueError(f"cannot skip back from {self._end} to {to}")
        self._end = to

    def trim(self, needed: Iterable[Position]) -> None:
        keep_from = min((p for p in needed if isinstance(p, int)), default=self._end)
        if keep_from >= self._end:
            index = len(self._entries)
        else:  # only whole entries go: the one holding keep_from stays
            index = bisect.bisect_right(self._starts, keep_from) - 1
        if index > 0:
            del self._entries[:index], self._starts[:index], self._offsets[:index]

    def tail(self, count: int) -> list[bytes]:
        """The newest *count* lines held, oldest first, each with its newline."""
        held = b"".join(self.read(max(self.oldest, self._end - count)))
        return [line + b"\n" for line in held.split(b"\n")[:-1]]

    def _index(self, position: Position) -> int:
        """The entry holding the line after *position*; :class:`Trimmed` if gone."""
        assert isinstance(position, int)
        if position < self.oldest:
            raise Trimmed(self.oldest - position, self.oldest)
        if position >= self._end:
            return len(self._entries)
        return bisect.bisect_right(self._starts, position) - 1
