"""The chat log seam (tcpchat.chatlog): positions, reads, trimming, what a late reader missed."""

from __future__ import annotations

import pytest

from tcpchat.chatlog import ChatLog, MemoryLog, Trimmed


def lines(*texts: str) -> list[bytes]:
    return [f"{text}\n".encode() for text in texts]


def test_memory_log_is_a_chat_log() -> None:
    log: ChatLog = MemoryLog()  # mypy checks the structure; this checks it runs
    assert log.read(log.end) == []


def test_append_gives_each_line_the_position_to_read_after_it() -> None:
    log = MemoryLog()
    start = log.end
    first = log.append(lines("a", "b", "c"))
    second = log.append(lines("d"))
    assert len(first) == 3
    assert len(second) == 1
    assert log.end == second[-1]
    assert b"".join(log.read(start)) == b"a\nb\nc\nd\n"
    assert b"".join(log.read(first[0])) == b"b\nc\nd\n"  # inside a batch
    assert b"".join(log.read(first[-1])) == b"d\n"
    assert log.read(second[-1]) == []


def test_read_until_stops_at_an_earlier_end() -> None:
    log = MemoryLog()
    start = log.end
    log.append(lines("a"))
    middle = log.end
    log.append(lines("b", "c"))
    assert b"".join(log.read(start, middle)) == b"a\n"
    assert b"".join(log.read(middle, log.end)) == b"b\nc\n"
    assert log.read(middle, middle) == []


def test_bytes_after_and_held_bytes() -> None:
    log = MemoryLog()
    start = log.end
    positions = log.append(lines("aa", "b"))
    assert log.bytes_after(start) == 5 == log.held_bytes
    assert log.bytes_after(positions[0]) == 2
    assert log.bytes_after(log.end) == 0


def test_trim_keeps_what_the_oldest_reader_needs() -> None:
    log = MemoryLog()
    start = log.end
    log.append(lines("a"))
    middle = log.end
    log.append(lines("b"))
    log.trim([log.end, middle])
    assert b"".join(log.read(middle)) == b"b\n"
    assert log.held_bytes == 2
    with pytest.raises(Trimmed):
        log.read(start)
    log.trim([])
    assert log.held_bytes == 0
    assert log.read(log.end) == []


def test_a_reader_behind_the_trim_is_told_how_many_lines_it_missed() -> None:
    log = MemoryLog()
    start = log.end
    log.append(lines("a", "b", "c"))
    kept = log.end
    log.append(lines("d"))
    log.trim([kept])
    with pytest.raises(Trimmed) as missed:
        log.read(start)
    assert missed.value.missed == 3
    assert b"".join(log.read(missed.value.oldest)) == b"d\n"  # go on from where it starts
    assert log.bytes_after(start) == 0


def test_tail_gives_the_newest_lines_across_batches() -> None:
    log = MemoryLog()
    assert log.tail(3) == []
    log.append(lines("a", "b"))
    log.append(lines("c"))
    log.append(lines("d", "e"))
    assert log.tail(0) == log.tail(-1) == []
    assert log.tail(1) == lines("e")
    assert log.tail(2) == lines("d", "e")
    assert log.tail(4) == lines("b", "c", "d", "e")  # cut inside a batch
    assert log.tail(5) == log.tail(99) == lines("a", "b", "c", "d", "e")


def test_tail_gives_only_what_trim_left() -> None:
    log = MemoryLog()
    log.append(lines("a"))
    kept = log.end
    log.append(lines("b", "c"))
    log.trim([kept])
    assert log.tail(9) == lines("b", "c")
    log.trim([])
    assert log.tail(9) == []


def test_a_log_can_start_at_a_later_position() -> None:
    log = MemoryLog(start=41)
    assert log.end == log.oldest == 41
    assert list(log.append(lines("a", "b"))) == [42, 43]
    assert b"".join(log.read(41)) == b"a\nb\n"
    assert log.bytes_after(42) == 2 == log.held_bytes - 2
    with pytest.raises(Trimmed) as missed:
        log.read(40)
    assert missed.value.missed == 1
    assert missed.value.oldest == 41
