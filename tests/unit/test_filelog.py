"""The durable chat log (tcpchat.filelog): restarts, torn records, rotation bounds, bad DIRs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcpchat.chatlog import ChatLog, MemoryLog, Trimmed
from tcpchat.errors import ChatError
from tcpchat.filelog import FORMAT, MARKER, FileLog, StoreError, encode_record, segment_names


def lines(*texts: str) -> list[bytes]:
    return [f"{text}\n".encode() for text in texts]


def snapshot(path: Path) -> dict[str, bytes | None]:
    """Every file under *path* (and the path itself) with its bytes, to compare."""
    if not path.is_dir():
        return {str(path): path.read_bytes() if path.exists() else None}
    found: dict[str, bytes | None] = {str(path): None}
    for root, dirs, files in os.walk(path):
        for name in dirs:
            found[os.path.join(root, name)] = None
        for name in files:
            found[os.path.join(root, name)] = Path(root, name).read_bytes()
    return found


def newest_segment(store: Path) -> Path:
    return store / segment_names(store)[-1]


def test_file_log_is_a_chat_log(tmp_path: Path) -> None:
    with FileLog(tmp_path / "store") as opened:
        log: ChatLog = opened  # mypy checks the structure; this checks it runs
        assert log.read(log.end) == []
        assert log.tail(5) == []


def test_positions_and_history_continue_after_a_reopen(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with FileLog(store) as log:
        first = log.append(lines("a", "b"))
        log.append(lines("c"))
        assert list(first) == [1, 2]
        end = log.end
    with FileLog(store) as log:
        assert log.recovered == ""
        assert log.end == end == 3
        assert b"".join(log.read(log.oldest)) == b"a\nb\nc\n"
        assert b"".join(log.read(first[0])) == b"b\nc\n"  # a resume inside a batch
        assert log.tail(2) == lines("b", "c")
        assert list(log.append(lines("d"))) == [4]  # no position used twice
    with FileLog(store) as log:
        assert log.tail(10) == lines("a", "b", "c", "d")


def test_a_missing_directory_or_an_empty_one_becomes_a_store(tmp_path: Path) -> None:
    deep = tmp_path / "new" / "store"
    with FileLog(deep) as log:
        log.append(lines("x"))
    assert (deep / MARKER).read_text() == f"tcpchat store, format {FORMAT}\nlog {log.log_id}\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    FileLog(empty).close()
    assert sorted(os.listdir(empty)) == ["00000000000000000000.log", MARKER]


def test_each_batch_is_one_record_with_length_and_crc(tmp_path: Path) -> None:
    with FileLog(tmp_path) as log:
        log.append(lines("hi", "yo"))
        log.append([])  # nothing to keep: not written
        log.append(lines("!"))
    data = newest_segment(tmp_path).read_bytes()
    assert data == encode_record(b"hi\nyo\n") + encode_record(b"!\n")
    assert data[:4] == (6).to_bytes(4, "big")


@pytest.mark.parametrize("left", [1, 4, 7, 8, 9, 12])  # of the last record's 13 bytes
def test_a_torn_last_record_is_dropped_and_earlier_ones_kept(tmp_path: Path, left: int) -> None:
    with FileLog(tmp_path) as log:
        log.append(lines("one"))
        log.append(lines("two", "three"))
        segment = newest_segment(tmp_path)
        whole = segment.stat().st_size
        log.append(lines("lost"))  # a 13-byte record: 8 of header, "lost\n"
    with segment.open("r+b") as file:
        file.truncate(whole + left)
    with FileLog(tmp_path) as log:
        assert f"dropped a torn last record ({left} bytes at the end of" in log.recovered
        assert str(tmp_path) in log.recovered
        assert log.end == 3
        assert log.tail(10) == lines("one", "two", "three")
        log.append(lines("four"))
    assert segment.stat().st_size == whole + 13
    with FileLog(tmp_path) as log:
        assert log.recovered == ""
        assert log.tail(10) == lines("one", "two", "three", "four")


@pytest.mark.parametrize("where", [0, 3, 4, 8, 12])  # length, crc, payload bytes
def test_a_flipped_byte_in_the_last_record_is_detected(tmp_path: Path, where: int) -> None:
    with FileLog(tmp_path) as log:
        log.append(lines("kept"))
        whole = newest_segment(tmp_path).stat().st_size
        log.append(lines("flip"))
    segment = newest_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    data[whole + where] ^= 0x01
    segment.write_bytes(bytes(data))
    with FileLog(tmp_path) as log:
        assert "13 bytes" in log.recovered
        assert log.tail(5) == lines("kept")
        assert log.end == 1
    assert segment.stat().st_size == whole


def test_a_damaged_older_segment_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    with FileLog(tmp_path, segment_bytes=1) as log:  # a segment per batch
        log.append(lines("a"))
        log.append(lines("b"))
    oldest = tmp_path / segment_names(tmp_path)[0]
    data = bytearray(oldest.read_bytes())
    data[-2] ^= 0x20
    oldest.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match=r"00000000000000000000\.log is damaged at byte 0"):
        FileLog(tmp_path)
    assert snapshot(tmp_path) == before


def test_a_missing_middle_segment_is_refused(tmp_path: Path) -> None:
    with FileLog(tmp_path, segment_bytes=1) as log:
        log.append(lines("a"))
        log.append(lines("b"))
        log.append(lines("c"))
    (tmp_path / segment_names(tmp_path)[1]).unlink()
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match="does not follow on"):
        FileLog(tmp_path)
    assert snapshot(tmp_path) == before


def disk_lines(store: Path) -> int:
    with FileLog(store, keep_lines=10**9) as log:  # a reopen that deletes nothing
        return log.end - log.stored_from


def test_rotation_keeps_keep_lines_and_deletes_a_segment_exactly_at_the_limit(
    tmp_path: Path,
) -> None:
    record = len(encode_record(b"xx\n"))  # 11 bytes
    with FileLog(tmp_path, keep_lines=3, segment_bytes=2 * record) as log:
        log.append(lines("xx"))
        log.append(lines("xx"))  # segment 0 is full: lines 1-2
        log.append(lines("xx"))
        log.append(lines("xx"))  # segment 2 is full: lines 3-4
        assert segment_names(tmp_path)[0] == "00000000000000000000.log"
        assert log.end - log.stored_from == 4  # the later segments hold 2 < keep_lines
        log.append(lines("xx"))  # segment 4; segments 2 and 4 hold 3 = keep_lines
        assert segment_names(tmp_path) == ["00000000000000000002.log", "00000000000000000004.log"]
        assert log.end - log.stored_from == 3 == log.keep_lines
        for _ in range(20):
            log.append(lines("xx"))
            kept = log.end - log.stored_from
            assert 3 <= kept < 3 + 2  # at least keep_lines, under keep_lines + a segment
            size = sum((tmp_path / name).stat().st_size for name in segment_names(tmp_path))
            assert size == log.disk_bytes == kept * record
        assert log.tail(3) == lines("xx", "xx", "xx")
        assert len(log.tail(100)) == 25  # memory still holds every line
        log.trim([])  # the server freed it
        assert len(log.tail(100)) == kept  # the disk keeps these
    assert disk_lines(tmp_path) == kept


def test_tail_reads_the_disk_for_lines_memory_no_longer_holds(tmp_path: Path) -> None:
    with FileLog(tmp_path, segment_bytes=1) as log:
        for text in "abcde":
            log.append(lines(text))
        log.trim([])  # the server freed its memory
        assert log.held_bytes == 0
        with pytest.raises(Trimmed):
            log.read(0)
        assert log.tail(3) == lines("c", "d", "e")
        assert log.tail(9) == lines("a", "b", "c", "d", "e")
        assert log.tail(0) == []


def test_lines_must_end_with_one_newline(tmp_path: Path) -> None:
    with FileLog(tmp_path) as log:
        with pytest.raises(ValueError, match="newline"):
            log.append([b"no newline"])
        with pytest.raises(ValueError, match="newline"):
            log.append([b"two\nlines\n"])
        assert log.end == 0
        assert log.disk_bytes == 0


def assert_refused(path: Path, pattern: str) -> None:
    before = snapshot(path)
    with pytest.raises(ChatError) as refused:
        FileLog(path)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"store {path}: ")
    assert pattern in message
    assert snapshot(path) == before  # byte for byte, nothing created or removed


def test_a_file_where_the_directory_should_be_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"not a directory")
    assert_refused(path, "not a directory; give a directory for --store")


def test_a_directory_with_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert_refused(tmp_path, "not a tcpchat store (it holds 'notes.txt'); give an empty")


def test_a_store_with_a_foreign_file_is_refused(tmp_path: Path) -> None:
    with FileLog(tmp_path) as log:
        log.append(lines("a"))
    (tmp_path / "extra.log").write_text("mine")
    assert_refused(tmp_path, "holds 'extra.log', not part of a store; move that file away")


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    with FileLog(tmp_path) as log:
        log.append(lines("a"))
    (tmp_path / MARKER).write_text(f"tcpchat store, format {FORMAT + 1}\n")
    assert_refused(tmp_path, f"newer tcpchat (format {FORMAT + 1}, this one reads {FORMAT})")


@pytest.mark.parametrize("text", ["", "tcpchat store, format 0\n", "hello\n"])
def test_a_marker_tcpchat_did_not_write_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / MARKER).write_text(text)
    assert_refused(tmp_path, f"{MARKER} is not a store marker")


def test_a_store_in_use_is_refused(tmp_path: Path) -> None:
    with FileLog(tmp_path) as log:
        log.append(lines("a"))
        assert_refused(tmp_path, "in use by another tcpchat server")
    FileLog(tmp_path).close()  # free again once closed


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any directory")
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    FileLog(store).close()
    store.chmod(0o555)
    try:
        assert_refused(store, "not writable")
    finally:
        store.chmod(0o755)


def test_empty_batches_are_not_written_and_rotation_goes_on(tmp_path: Path) -> None:
    with FileLog(tmp_path, segment_bytes=1) as log:  # every record fills its segment
        log.append(lines("a"))
        for _ in range(3):
            assert list(log.append([])) == []
        log.append(lines("b"))
        assert log.tail(5) == lines("a", "b")
    assert segment_names(tmp_path) == ["00000000000000000000.log", "00000000000000000001.log"]
    with FileLog(tmp_path) as log:
        assert log.tail(5) == lines("a", "b")


def test_the_log_id_survives_a_restart_and_an_old_marker_gets_one(tmp_path: Path) -> None:
    with FileLog(tmp_path / "a") as log:
        log_id = log.log_id
        log.append(lines("x"))
    assert len(log_id) == 16
    assert int(log_id, 16) >= 0
    with FileLog(tmp_path / "a") as log:
        assert log.log_id == log_id
    old = tmp_path / "old"
    old.mkdir()
    (old / MARKER).write_text(f"tcpchat store, format {FORMAT}\n")  # before log ids
    with FileLog(old) as log:
        given = log.log_id
    with FileLog(old) as log:
        assert log.log_id == given != log_id


def test_memory_read_cuts_inside_batches() -> None:
    memory = MemoryLog()
    memory.append(lines("a", "b", "c"))
    memory.append(lines("d", "e"))
    assert b"".join(memory.read(1, 1)) == b""
    assert b"".join(memory.read(1, 2)) == b"b\n"
    assert b"".join(memory.read(0, 4)) == b"a\nb\nc\nd\n"
    assert b"".join(memory.read(2, 4)) == b"c\nd\n"
    assert b"".join(memory.read(2)) == b"c\nd\ne\n"
    assert b"".join(memory.read(3)) == b"d\ne\n"
    assert memory.log_id != MemoryLog().log_id
