"""A durable chat log: :class:`FileLog`, the room's history in append-only files.

``tcpchat server --store DIR`` keeps the log here instead of only in memory,
so that after a crash (even ``SIGKILL``) and a restart on the same DIR the
history is still there and positions go on from where they stopped: no
position is ever given to two different lines.

Write-ahead
-----------
:meth:`FileLog.append` writes the batch to the file and hands it to the
operating system (one ``write``) *before* it returns, and the server sends a
batch only after appending it, so no client ever saw a line the store could
lose in a crash of the process.  With ``fsync=True`` the batch is also on the
disk before ``append`` returns (and the directory, when a file is created),
so it survives a power cut too; that costs a disk flush per batch (see
docs/performance.md for the figures).  The file is only ever appended to;
everything readable is also kept in a :class:`tcpchat.chatlog.MemoryLog`
(composition: the readable window, its reads, ``bytes_after`` and ``trim``
are the memory log's), so the server's constant reads never touch the disk.

The directory
-------------
::

    DIR/tcpchat-store                  "tcpchat store, format 1\\nlog 0123456789abcdef\\n"
    DIR/00000000000000000000.log       segment: lines 1 ..
    DIR/00000000000000015420.log       segment: lines 15421 .. (newest: appended to)

``tcpchat-store`` marks the directory as a store, names its format and
holds the store's log id (a marker from before log ids gets one on opening);
a tcpchat refuses a format newer than its own (:data:`FORMAT`), a directory
holding anything else, and one it cannot read or write, with a one-line
:class:`StoreError` that changes nothing.  A missing or empty directory
becomes a new store.  While open, the marker is locked (``flock``, where the
system has it), so two servers cannot write one store.

Each segment is named by the position before its first line (20 digits, so
names sort in order) and is a run of *records*, one per batch::

    length   4 bytes, big-endian: the payload's size
    crc      4 bytes, big-endian: zlib.crc32 of the length field, then the payload
    payload  the batch's lines, each UTF-8 with its newline

so the number of lines of a record is the number of newlines in its payload,
and a position is the count of lines before it, over all segments.

Crashes
-------
A crash can leave the newest segment ending in a torn record (a short
header or payload, or bytes that fail the crc).  Opening the store reads
every segment; the newest is cut at its first bad record and what was cut
off is told in :attr:`FileLog.recovered` (for the server to log).  Only a
record whose ``append`` never returned can be lost that way.  A bad record in
an older segment, or segments that do not follow on from each other, cannot
come from a crash of tcpchat; that store is refused, not repaired.

Bounds
------
When the newest segment reaches ``segment_bytes`` the next batch starts a new
one, and the oldest segment is deleted once the segments after it hold
``keep_lines`` lines.  So the disk keeps *at least* the newest ``keep_lines``
lines (all of them while there are fewer) and fewer than ``keep_lines`` plus
one segment's lines: with the defaults, 10,000 lines and 1 MiB segments, a
store of ~60-byte lines stays under about 2 MiB however long the chat.  On
opening, every line on disk is loaded into memory, so a client can resume
and :meth:`FileLog.tail` can show the history at once; after that, memory is
what the server's ``trim`` leaves, and :meth:`~FileLog.tail` reads the disk
for lines it no longer holds.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from types import TracebackType
from typing import Iterable, Sequence

from tcpchat.chatlog import MemoryLog, Position, new_log_id
from tcpchat.errors import ChatError, describe

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]

FORMAT = 1
"""The store format this tcpchat writes; it refuses newer ones."""
MARKER = "tcpchat-store"
KEEP_LINES = 10_000
SEGMENT_BYTES = 1 << 20
_MARKER_TEXT = "tcpchat store, format {}\n"
_LOG_ID_TEXT = "log {}\n"
_MARKER_FORMAT = re.compile(rb"tcpchat store, format ([0-9]{1,9})\n(?:log ([0-9a-f]{16})\n)?\Z")
_SEGMENT_NAME = re.compile(r"([0-9]{20})\.log\Z")
_HEADER = 8


class StoreError(ChatError):
    """The store cannot be used (or written): a one-line reason and what to do."""


@dataclass
class _Segment:
    first: int  # the position before its first line (its name)
    lines: int = 0
    size: int = 0  # bytes of whole, good records

    @property
    def name(self) -> str:
        return f"{self.first:020d}.log"


def encode_record(payload: bytes) -> bytes:
    """One record: length, crc32 and *payload* (see the module docstring)."""
    length = len(payload).to_bytes(4, "big")
    return length + zlib.crc32(payload, zlib.crc32(length)).to_bytes(4, "big") + payload


def scan_records(data: bytes) -> tuple[list[bytes], int]:
    """The payloads of the good records at the start of *data*, and where they end."""
    payloads: list[bytes] = []
    offset = 0
    while len(data) - offset >= _HEADER:
        length = data[offset : offset + 4]
        size = int.from_bytes(length, "big")
        end = offset + _HEADER + size
        if end > len(data):
            break
        payload = data[offset + _HEADER : end]
        if zlib.crc32(payload, zlib.crc32(length)) != int.from_bytes(
            data[offset + 4 : offset + _HEADER], "big"
        ) or (payload and not payload.endswith(b"\n")):
            break
        payloads.append(payload)
        offset = end
    return payloads, offset


def _lines(payload: bytes) -> list[bytes]:
    return [line + b"\n" for line in payload.split(b"\n")[:-1]]


class FileLog:
    """A :class:`tcpchat.chatlog.ChatLog` kept in *directory*; positions are line counts.

    Opening validates the directory (a :class:`StoreError` if it cannot be
    used, with nothing in it changed), drops a torn last record (see
    :attr:`recovered`) and loads the lines on disk.  Call :meth:`close` when done.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        fsync: bool = False,
        keep_lines: int = KEEP_LINES,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        if keep_lines < 0 or segment_bytes < 1:
            raise ValueError("keep_lines must be >= 0 and segment_bytes >= 1")
        self.directory = os.fspath(directory)
        self.fsync = fsync
        self.keep_lines = keep_lines
        self.segment_bytes = segment_bytes
        self.recovered = ""
        self.log_id = ""
        """This store's log id (see :mod:`tcpchat.chatlog`): kept in the marker across restarts."""
        """What opening dropped (a torn last record), in one line; empty if nothing."""
        self._lock_fd = -1
        self._fd = -1
        self._broken = False
        segments, payloads, cut = self._check()
        try:
            self._lock_fd = self._lock()
            self._keep_log_id()
            self._segments = segments or [_Segment(0)]
            self._fd = self._open_newest(create=not segments, cut=cut)
        except BaseException:
            self.close()
            raise
        self._memory = MemoryLog(start=self._segments[0].first)
        for payload in payloads:
            self._memory.append(_lines(payload))
        self._prune()

    # -- the ChatLog calls ---------------------------------------------------

    @property
    def end(self) -> int:
        return self._memory.end

    @property
    def oldest(self) -> int:
        """The oldest position :meth:`read` still gives (memory; :meth:`tail` goes further)."""
        return self._memory.oldest

    @property
    def held_bytes(self) -> int:
        """Bytes held in memory (what :meth:`trim` has not freed)."""
        return self._memory.held_bytes

    def append(self, lines: Sequence[bytes]) -> range:
        """Write *lines* as one record (to the system; the disk if ``fsync``), then keep them.

        A :class:`StoreError` if the write fails (disk full): then nothing was
        stored and the file is as it was.
        """
        payload = b"".join(lines)
        if payload.count(b"\n") != len(lines) or (lines and not payload.endswith(b"\n")):
            raise ValueError("each line must end with its one newline")
        if self._broken:
            raise self._fail("a failed write could not be undone", "restart the server")
        if lines:  # an empty batch has no line to keep (and no position)
            if self._segments[-1].size >= self.segment_bytes:
                self._rotate()
            record = encode_record(payload)
            self._write(record)
            newest = self._segments[-1]
            newest.lines += len(lines)
            newest.size += len(record)
        positions = self._memory.append(lines)
        self._prune()
        return positions

    def read(self, after: Position, until: Position | None = None) -> list[bytes]:
        return self._memory.read(after, until)

    def bytes_after(self, position: Position) -> int:
        return self._memory.bytes_after(position)

    def trim(self, needed: Iterable[Position]) -> None:
        """Free memory as :meth:`MemoryLog.trim` does; the disk keeps its ``keep_lines``."""
        self._memory.trim(needed)

    def tail(self, count: int) -> list[bytes]:
        """The newest *count* lines kept (on disk or in memory), oldest first.

        Fewer if fewer are kept.  Lines the server's :meth:`trim` freed are
        read back from the disk.
        """
        if self._memory.oldest <= self.stored_from or count <= self.end - self._memory.oldest:
            return self._memory.tail(count)
        wanted: list[_Segment] = []
        for segment in reversed(self._segments):
            wanted.append(segment)
            if sum(s.lines for s in wanted) >= count:
                break
        lines: list[bytes] = []
        for segment in reversed(wanted):
            data = self._read_file(segment.name)[: segment.size]
            for payload in scan_records(data)[0]:
                lines.extend(_lines(payload))
        return lines[max(0, len(lines) - count) :] if count > 0 else []

    # -- what else a server or a test may ask ----------------------------------

    @property
    def stored_from(self) -> int:
        """The position before the oldest line on disk (how far :meth:`tail` reaches)."""
        return self._segments[0].first

    @property
    def disk_bytes(self) -> int:
        """Bytes of the segments on disk (the marker not counted)."""
        return sum(segment.size for segment in self._segments)

    def close(self) -> None:
        """Close the files (and release the lock); the store stays as it is."""
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1

    def __enter__(self) -> FileLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- opening: check everything before changing anything --------------------

    def _fail(self, what: str, todo: str) -> StoreError:
        return StoreError(f"store {self.directory}: {what}; {todo}")

    def _check(self) -> tuple[list[_Segment], list[bytes], int | None]:
        """Validate the directory (read only); its segments, payloads and any cut to make."""
        if os.path.lexists(self.directory) and not os.path.isdir(self.directory):
            raise self._fail("not a directory", "give a directory for --store")
        try:
            os.makedirs(self.directory, exist_ok=True)
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            raise self._fail(f"cannot use it ({describe(exc)})", "check the path") from exc
        if not os.access(self.directory, os.R_OK | os.W_OK | os.X_OK):
            raise self._fail("not writable", "give a directory this user can write")
        if not names:
            return [], [], None
        if MARKER not in names:
            raise self._fail(
                f"not a tcpchat store (it holds {names[0]!r})", "give an empty or new directory"
            )
        found = _MARKER_FORMAT.match(self._read_file(MARKER))
        if found is None or int(found[1]) < 1:
            raise self._fail(f"{MARKER} is not a store marker", "give an empty or new directory")
        self.log_id = found[2].decode("ascii") if found[2] else ""
        if int(found[1]) > FORMAT:
            raise self._fail(
                f"written by a newer tcpchat (format {int(found[1])}, this one reads {FORMAT})",
                "run a newer tcpchat or give another directory",
            )
        segments: list[_Segment] = []
        for name in names:
            match = _SEGMENT_NAME.match(name)
            if match:
                segments.append(_Segment(int(match[1])))
            elif name != MARKER:
                raise self._fail(f"holds {name!r}, not part of a store", "move that file away")
        return self._check_segments(segments)

    def _check_segments(
        self, segments: list[_Segment]
    ) -> tuple[list[_Segment], list[bytes], int | None]:
        payloads: list[bytes] = []
        cut = None
        for index, segment in enumerate(segments):
            data = self._read_file(segment.name)
            found, segment.size = scan_records(data)
            segment.lines = sum(payload.count(b"\n") for payload in found)
            if index and segments[index - 1].first + segments[index - 1].lines != segment.first:
                raise self._fail(
                    f"{segment.name} does not follow on from the segment before it",
                    "restore the missing segment or move the store away",
                )
            if segment.size < len(data):
                if index < len(segments) - 1:
                    raise self._fail(
                        f"{segment.name} is damaged at byte {segment.size}",
                        "restore it or move the store away",
                    )
                cut = segment.size
                self.recovered = (
                    f"store {self.directory}: dropped a torn last record "
                    f"({len(data) - segment.size} bytes at the end of {segment.name})"
                )
            payloads.extend(found)
        return segments, payloads, cut

    def _read_file(self, name: str) -> bytes:
        try:
            with open(os.path.join(self.directory, name), "rb") as file:
                return file.read()
        except OSError as exc:
            raise self._fail(f"cannot read {name} ({describe(exc)})", "check it") from exc

    def _lock(self) -> int:
        """Create the marker if new, and lock it for as long as the store is open."""
        path = os.path.join(self.directory, MARKER)
        try:
            if not os.path.exists(path):
                with open(path, "x", encoding="ascii") as file:
                    file.write(_MARKER_TEXT.format(FORMAT))
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise self._fail(f"cannot write ({describe(exc)})", "check its permissions") from exc
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                raise self._fail(
                    "in use by another tcpchat server", "stop it or give another directory"
                ) from exc
        return fd

    def _keep_log_id(self) -> None:
        """Give a store its log id: a new one, or one whose marker predates log ids."""
        if self.log_id:
            return
        self.log_id = new_log_id()
        try:
            with open(os.path.join(self.directory, MARKER), "a", encoding="ascii") as file:
                file.write(_LOG_ID_TEXT.format(self.log_id))
        except OSError as exc:
            raise self._fail(f"cannot write ({describe(exc)})", "check its permissions") from exc

    def _open_newest(self, *, create: bool, cut: int | None) -> int:
        path = os.path.join(self.directory, self._segments[-1].name)
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise self._fail(f"cannot write ({describe(exc)})", "check its permissions") from exc
        if cut is not None:
            os.ftruncate(fd, cut)
        if create or cut is not None:
            self._sync(fd, directory=create)
        return fd

    # -- writing ---------------------------------------------------------------

    def _write(self, record: bytes) -> None:
        try:
            view = memoryview(record)
            while view:
                view = view[os.write(self._fd, view) :]
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._segments[-1].size)  # no torn record left behind
            except OSError:
                self._broken = True  # a record after the torn one would be lost on reopen
            raise self._fail(f"cannot write ({describe(exc)})", "the batch was not stored") from exc

    def _rotate(self) -> None:
        """Start a new segment at the end (the next batch goes there)."""
        segment = _Segment(self.end)
        path = os.path.join(self.directory, segment.name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise self._fail(f"cannot write ({describe(exc)})", "the batch was not stored") from exc
        os.close(self._fd)
        self._fd = fd
        self._segments.append(segment)
        self._sync(fd, directory=True)

    def _prune(self) -> None:
        """Delete the oldest segments while the ones after them hold ``keep_lines`` lines."""
        while len(self._segments) > 1 and self.end - self._segments[1].first >= self.keep_lines:
            try:
                os.remove(os.path.join(self.directory, self._segments[0].name))
            except FileNotFoundError:
                pass
            except OSError:
                return  # tried again after the next append
            del self._segments[0]

    def _sync(self, fd: int, *, directory: bool) -> None:
        if not self.fsync:
            return
        os.fsync(fd)
        if directory and hasattr(os, "O_DIRECTORY"):
            dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def segment_names(directory: str | os.PathLike[str]) -> list[str]:
    """The segment files of the store in *directory*, oldest first (for tests and tools)."""
    return sorted(name for name in os.listdir(directory) if _SEGMENT_NAME.match(name))
