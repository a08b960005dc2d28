"""The file store behaves like the memory log, across random restarts (hypothesis).

The machine drives a :class:`tcpchat.filelog.FileLog` (tiny segments and a
small ``keep_lines``, so rotation and deletion happen all the time) and a
:class:`tcpchat.chatlog.MemoryLog` side by side with the same appends,
reads (at batch boundaries and inside batches, with and without *until*),
``bytes_after``, trims and tails, and now and then closes and reopens the
store.  A reopen starts the model afresh from what the store kept, which
must be whole batches, at least the newest ``keep_lines`` lines, and fewer
than ``keep_lines`` plus the oldest segment's.  After every step the two
agree on ``end``, ``oldest`` and ``held_bytes``, and ``tail`` gives the
newest lines ever appended.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tcpchat.chatlog import MemoryLog, Trimmed
from tcpchat.filelog import FileLog, segment_names

KEEP = 5
SEGMENT = 30
BATCH = st.lists(st.sampled_from(["a", "bb", "ccc", "", "d d"]), max_size=4)


class FileLikeMemory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="tcpchat-filelog-")
        self.store = FileLog(self.directory, keep_lines=KEEP, segment_bytes=SEGMENT)
        self.model = MemoryLog()
        self.lines: list[bytes] = []  # every line ever appended
        self.boundaries = [0]  # every end the log has had

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory)

    def _valid(self, data: st.DataObject) -> int:
        """A position still readable: a batch boundary or inside a batch."""
        return data.draw(st.integers(self.model.oldest, self.model.end))

    @rule(batch=BATCH)
    def append(self, batch: list[str]) -> None:
        encoded = [f"{text}\n".encode() for text in batch]
        assert list(self.store.append(encoded)) == list(self.model.append(encoded))
        self.lines.extend(encoded)
        self.boundaries.append(self.model.end)

    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        after = self._valid(data)
        later = [b for b in self.boundaries if b >= after]
        until = data.draw(st.sampled_from([None, *later]))
        got = b"".join(self.store.read(after, until))
        assert got == b"".join(self.model.read(after, until))
        assert got == b"".join(self.lines[after : self.model.end if until is None else until])

    @rule(data=st.data())
    def read_trimmed(self, data: st.DataObject) -> None:
        if self.model.oldest == 0:
            return
        after = data.draw(st.integers(0, self.model.oldest - 1))
        with pytest.raises(Trimmed) as store_says:
            self.store.read(after)
        with pytest.raises(Trimmed) as model_says:
            self.model.read(after)
        assert store_says.value.missed == model_says.value.missed
        assert store_says.value.oldest == model_says.value.oldest

    @rule(data=st.data())
    def bytes_after(self, data: st.DataObject) -> None:
        position = data.draw(st.integers(0, self.model.end))
        assert self.store.bytes_after(position) == self.model.bytes_after(position)

    @rule(data=st.data())
    def trim(self, data: st.DataObject) -> None:
        needed = data.draw(st.lists(st.integers(self.model.oldest, self.model.end), max_size=3))
        self.store.trim(needed)
        self.model.trim(needed)

    @rule(count=st.integers(0, 3 * KEEP))
    def tail(self, count: int) -> None:
        got = self.store.tail(count)
        kept_from = min(self.store.stored_from, self.model.oldest)  # on disk or in memory
        assert got == self.lines[max(self.model.end - count, kept_from) :]
        if count <= self.model.end - self.model.oldest:
            assert got == self.model.tail(count)

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = FileLog(self.directory, keep_lines=KEEP, segment_bytes=SEGMENT)
        assert self.store.recovered == ""
        start = self.store.oldest
        assert start == self.store.stored_from
        assert start in self.boundaries  # whole batches only
        self.model = MemoryLog(start=start)
        for before, after in zip(self.boundaries, self.boundaries[1:], strict=False):
            if before >= start:
                self.model.append(self.lines[before:after])

    @invariant()
    def agree(self) -> None:
        assert self.store.end == self.model.end == len(self.lines)
        assert self.store.oldest == self.model.oldest
        assert self.store.held_bytes == self.model.held_bytes

    @invariant()
    def disk_is_bounded(self) -> None:
        kept = self.store.end - self.store.stored_from
        assert kept >= min(KEEP, self.store.end)
        names = segment_names(self.directory)
        assert int(names[0].split(".")[0]) == self.store.stored_from
        if len(names) > 1:
            assert self.store.end - int(names[1].split(".")[0]) < KEEP


FileLikeMemory.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_file_log_like_memory_log = FileLikeMemory.TestCase
