"""Rules of the reshaped package that the mutation run showed untested (issues 10 and 16).

Each test kills named mutmut survivors of the CI run after the reshaping: the
notice table's own machinery (its module-level notices are built at import,
before mutmut switches a mutant on, so a format must be built inside a test to
be checked), the log's reads and byte counts from inside a batch, what a
reader behind the trim is told, and which room event a join carries.
"""

from __future__ import annotations

import pytest

from tcpchat import events
from tcpchat.chatlog import MemoryLog, Trimmed
from tcpchat.notices import NoticeFormat
from tcpchat.room import ChatRoom


def test_a_notice_format_built_now_formats_parses_and_names_itself() -> None:
    notice = NoticeFormat("moved", "{nick} moved to {place}, said {old}!")
    assert notice.name == "moved"
    assert notice.template == "{nick} moved to {place}, said {old}!"
    assert notice.fields == ("nick", "place", "old")
    text = notice.format(nick="ann", place="the big room", old="bob")
    assert text == "ann moved to the big room, said bob!"
    assert notice.parse(text) == {"nick": "ann", "place": "the big room", "old": "bob"}
    # A nickname field matches no space; any other field matches anything, newlines too.
    assert notice.parse("ann b moved to x, said bob!") is None
    assert notice.parse("ann moved to a\nb, said bob!") == {
        "nick": "ann",
        "place": "a\nb",
        "old": "bob",
    }
    # The whole text must match: nothing before, nothing after.
    assert notice.parse(text + " ") is None
    assert notice.parse("* " + text) is None
    assert repr(notice) == "NoticeFormat('moved', '{nick} moved to {place}, said {old}!')"


def test_a_notice_format_without_fields_matches_only_its_text() -> None:
    notice = NoticeFormat("plain", "all (quiet).")
    assert notice.fields == ()
    assert notice.parse("all (quiet).") == {}
    assert notice.parse("all (quiet)x") is None  # the template is literal, not a pattern


def test_a_join_without_an_address_carries_an_empty_one() -> None:
    room = ChatRoom()
    assert room.connect("a")[0] == events.Joined("Client", "")


def mid_batch_log() -> MemoryLog:
    """A log of two batches, the second (three lines with spaces) not at the start."""
    log = MemoryLog()
    log.append([b"x\n"])
    log.append([b"a a\n", b"b b\n", b"c c\n"])
    log.append([b"d\n"])
    return log


def test_a_fresh_memory_log_counts_lines_from_zero() -> None:
    log = MemoryLog()
    assert (log.end, log.held_bytes) == (0, 0)
    assert list(log.append([b"a\n", b"b\n"])) == [1, 2]


def test_reading_from_inside_a_batch_gives_its_tail_then_the_rest() -> None:
    log = mid_batch_log()
    assert log.read(2) == [b"b b\nc c\n", b"d\n"]
    assert log.read(3) == [b"c c\n", b"d\n"]


def test_bytes_after_a_position_inside_a_batch_counts_only_what_follows_it() -> None:
    log = mid_batch_log()
    assert log.bytes_after(2) == len(b"b b\nc c\nd\n")
    assert log.bytes_after(3) == len(b"c c\nd\n")
    assert log.bytes_after(1) == len(b"a a\nb b\nc c\nd\n")  # at a batch boundary


def test_a_reader_behind_the_trim_is_told_exactly_how_many_lines_it_missed() -> None:
    log = MemoryLog()
    for text in (b"a\n", b"b\n", b"c\n"):
        log.append([text])
    log.trim([2])
    with pytest.raises(Trimmed) as caught:
        log.read(1)
    assert (caught.value.missed, caught.value.oldest) == (1, 2)
    assert str(caught.value) == "1 lines were trimmed away before this position"
