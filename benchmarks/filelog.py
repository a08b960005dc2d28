"""What the durable log costs: appends per second, and disk use over a long chat.

    python -m benchmarks.filelog [--seconds 2] [--dir DIR] [--lines 1000000]

For each store (:class:`tcpchat.chatlog.MemoryLog`, :class:`tcpchat.filelog.FileLog`,
``FileLog(fsync=True)``) and each batch size (1 line, 50 lines; lines of 60
bytes, newline included), appends batches for --seconds and reports batches
and lines per second.  Memory is trimmed the way the server does (freed once
it holds 2 MiB), so every store pays the same for that.  Then it appends
--lines 1-line batches to a ``FileLog`` with the default ``keep_lines`` and
``segment_bytes`` and reports the bytes on disk at the end (apparent and
allocated) and the most the segments held at any moment.
The stores go in a fresh directory under --dir (the system's temporary
directory by default: say which file system that is when quoting figures;
fsync on tmpfs costs nothing).  No pass/fail thresholds: figures for
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from typing import Callable

from tcpchat.chatlog import ChatLog, MemoryLog
from tcpchat.filelog import FileLog

LINE = b"x" * 59 + b"\n"
TRIM_AT = 2 * 1024 * 1024


def rate(log: ChatLog, batch: int, seconds: float) -> float:
    """Batches appended per second, for about *seconds*."""
    lines = [LINE] * batch
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            log.append(lines)
            if log.held_bytes > TRIM_AT:
                log.trim([log.end])
        done += 20
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def disk_use(directory: str) -> tuple[int, int]:
    """Apparent and allocated bytes of the files in *directory*."""
    apparent = allocated = 0
    for name in os.listdir(directory):
        status = os.stat(os.path.join(directory, name))
        apparent += status.st_size
        allocated += status.st_blocks * 512
    return apparent, allocated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.filelog", description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement (2)")
    parser.add_argument("--dir", help="where to make the stores (default: the temp directory)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="for the disk use (1000000)")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="tcpchat-filelog-bench-", dir=args.dir)
    stores = 0

    def store(**options: bool) -> Callable[[], FileLog]:
        def make() -> FileLog:
            nonlocal stores
            stores += 1
            return FileLog(os.path.join(work, str(stores)), **options)

        return make

    kinds: list[tuple[str, Callable[[], ChatLog]]] = [
        ("MemoryLog", MemoryLog),
        ("FileLog", store()),
        ("FileLog(fsync=True)", store(fsync=True)),
    ]
    try:
        print(f"{platform.python_implementation()} {platform.python_version()}, "
              f"{os.cpu_count()} CPUs, {platform.platform()}, stores in {work}")  # fmt: skip
        print(f"{'store':<22}{'batch':>6}{'batches/s':>12}{'lines/s':>12}")
        for name, make in kinds:
            for batch in (1, 50):
                log = make()
                per_second = rate(log, batch, args.seconds)
                if isinstance(log, FileLog):
                    log.close()
                print(f"{name:<22}{batch:>6}{per_second:>12,.0f}{per_second * batch:>12,.0f}")
        directory = os.path.join(work, "disk")
        started = time.perf_counter()
        peak = 0
        with FileLog(directory) as log:
            for _ in range(args.lines):
                log.append([LINE])
                if log.held_bytes > TRIM_AT:
                    log.trim([log.end])
                peak = max(peak, log.disk_bytes)
            kept = log.end - log.stored_from
        took = time.perf_counter() - started
        apparent, allocated = disk_use(directory)
        print(f"{args.lines:,} lines of {len(LINE)} bytes, 1-line batches, default rotation "
              f"(keep_lines {log.keep_lines:,}, segment_bytes {log.segment_bytes:,}): "
              f"{len(os.listdir(directory)) - 1} segments, {kept:,} lines kept, "
              f"{apparent:,} bytes ({allocated:,} allocated; at most {peak:,} on the way), "
              f"in {took:.1f} s")  # fmt: skip
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
