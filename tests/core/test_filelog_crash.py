"""The durable log (tcpchat.filelog) against real crashes: SIGKILL mid-stream, a full disk.

A child process appends numbered lines in batches of 1 to 7 and prints the
log's end after each append returns.  It is killed at once (SIGKILL) after
a number of appends; reopening the store must give exactly the first lines
it appended, at least every line whose append had returned (write-ahead: a
returned append is in the operating system, which outlives the process),
with no torn record left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tcpchat.filelog import FileLog, segment_names

WRITER = textwrap.dedent(
    """
    import sys
    from tcpchat.filelog import FileLog

    store, keep, segment = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    log = FileLog(store, keep_lines=keep, segment_bytes=segment)
    number = log.end
    batch = 0
    while True:
        batch = batch % 7 + 1
        log.append([b"line %d ........................\\n" % (number + i) for i in range(batch)])
        number += batch
        print(log.end, flush=True)
    """
)


def expected(first: int, last: int) -> list[bytes]:
    return [b"line %d ........................\n" % n for n in range(first, last)]


def kill_writer(store: Path, *, after: int, keep: int, segment: int) -> int:
    """Run the writer until it has *after* more appends; SIGKILL it; its last end printed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store), str(keep), str(segment)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    acknowledged = -1
    for _ in range(after):
        acknowledged = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return acknowledged


def test_sigkill_leaves_a_prefix_with_every_acknowledged_line(tmp_path: Path) -> None:
    ends = [0]
    for after in (500, 1, 2000):  # crash, restart, crash again: positions go on
        acknowledged = kill_writer(tmp_path, after=after, keep=10**9, segment=4096)
        assert acknowledged > ends[-1]
        with FileLog(tmp_path, keep_lines=10**9) as log:
            assert log.recovered == ""
            assert log.end >= acknowledged
            assert log.stored_from == 0
            assert log.tail(log.end) == expected(0, log.end)  # one numbering, no gap, no repeat
            assert b"".join(log.read(0)) == b"".join(expected(0, log.end))
            ends.append(log.end)
    assert len(segment_names(tmp_path)) > 10  # it rotated on the way


def test_sigkill_with_rotation_keeps_the_newest_lines(tmp_path: Path) -> None:
    acknowledged = kill_writer(tmp_path, after=3000, keep=500, segment=2048)
    with FileLog(tmp_path, keep_lines=500) as log:
        assert log.end >= acknowledged
        kept = log.end - log.stored_from
        assert kept >= 500
        second = int(segment_names(tmp_path)[1].split(".")[0])
        assert log.end - second < 500  # the oldest segment is still needed: under 500 + its lines
        assert log.tail(kept) == expected(log.stored_from, log.end)


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from tcpchat.filelog import FileLog, StoreError

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    log = FileLog(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
    try:
        while True:
            log.append([b"x" * 99 + b"\\n"])
    except StoreError as exc:
        print(exc)
    print(log.end)
    try:
        log.append([b"y" * 999 + b"\\n"])  # does not fit either
    except StoreError:
        pass
    log.append([b"z\\n"])  # does: after the failed ones, not after a torn record
    print(log.end)
    """
)


def test_a_failed_write_leaves_no_torn_record(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)],
        capture_output=True,
        env=env,
        check=True,
        text=True,
    )
    error, full, last = done.stdout.splitlines()
    assert error.startswith(f"store {tmp_path}: cannot write (")
    assert error.endswith("; the batch was not stored")
    assert int(last) == int(full) + 1 == 1000 // 108 + 1
    with FileLog(tmp_path) as log:
        assert log.recovered == ""
        assert log.tail(2) == [b"x" * 99 + b"\n", b"z\n"]
        assert log.end == int(last)
