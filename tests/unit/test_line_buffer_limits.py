"""The line buffer's memory bound, asserted after EVERY chunk (issue 16).

The older memory test looked only after the closing newline, when the buffer is
empty anyway; a buffer allowed to grow to 4x its limit passed it.  Here the held
bytes are read after each chunk, while the over-long line is still streaming in.
"""

from __future__ import annotations

import pytest

from tcpchat import protocol
from tcpchat.protocol import Line, LineBuffer, LineTooLong


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
@pytest.mark.parametrize("limit", [1, 16, 100, 4096])
def test_memory_never_exceeds_the_limit_after_any_chunk(chunk_size: int, limit: int) -> None:
    buffer = LineBuffer(limit)
    stream = b"z" * (limit * 10 + 3)
    events: list[protocol.FrameEvent] = []
    for start in range(0, len(stream), chunk_size):
        events += buffer.feed(stream[start : start + chunk_size])
        # limit + 1: a line of exactly `limit` bytes may still be waiting for the "\n" of "\r\n".
        assert buffer.pending_bytes <= limit + 1, (start, buffer.pending_bytes)
    # Reported once, as soon as it passed the limit (not when the line ends).
    assert len(events) == 1
    first = events[0]
    assert isinstance(first, LineTooLong)
    assert limit + 1 < first.size <= limit + 1 + chunk_size
    assert buffer.discarding


@pytest.mark.parametrize("limit", [1, 10, 4096])
def test_the_report_comes_in_the_chunk_that_passes_the_limit_plus_one(limit: int) -> None:
    buffer = LineBuffer(limit)
    assert buffer.feed(b"a" * (limit + 1)) == []  # could still end in "\r\n"
    assert buffer.pending_bytes == limit + 1
    assert buffer.feed(b"a") == [LineTooLong(limit + 2, limit)]
    assert buffer.pending_bytes == 0
    assert buffer.discarding


def test_discarding_ends_at_the_newline_and_the_rest_of_that_chunk_is_kept() -> None:
    buffer = LineBuffer(4)
    assert buffer.feed(b"abcdefg") == [LineTooLong(7, 4)]
    assert buffer.feed(b"hijk") == []
    assert buffer.pending_bytes == 0
    assert buffer.feed(b"lmn\nok\nte") == [Line("ok")]
    assert not buffer.discarding
    assert buffer.pending_bytes == 2
    assert buffer.feed(b"st\n") == [Line("test")]


def test_a_line_of_limit_bytes_plus_cr_is_a_line_and_limit_plus_one_is_not() -> None:
    buffer = LineBuffer(3)
    assert buffer.feed(b"abc\r\n") == [Line("abc")]
    assert buffer.feed(b"abcd\n") == [LineTooLong(4, 3)]
    assert buffer.feed(b"abcd\r\n") == [LineTooLong(5, 3)]
    assert buffer.feed(b"ab\r\r\n") == [Line("ab\u240d")]  # one "\r" belongs to the ending
    assert not buffer.discarding


def test_the_default_limit_is_the_protocol_constant_and_zero_is_refused() -> None:
    assert LineBuffer().max_line_bytes == protocol.MAX_LINE_BYTES == 4096
    assert LineBuffer(1).max_line_bytes == 1
    with pytest.raises(ValueError, match="at least 1"):
        LineBuffer(0)
