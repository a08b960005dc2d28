"""RedisLog and its Follower against a real redis-server (see conftest.py)."""

from __future__ import annotations

import itertools
import threading
from typing import Iterator

import pytest
import redis
from pytest_redis.executor import RedisExecutor
from redis_helpers import Collector, Paused, url_of

from tcpchat.chatlog import Trimmed
from tcpchat.errors import ChatError
from tcpchat.redisconn import LogLost, StoreFull, StoreUnavailable
from tcpchat.redislog import DOWN, LOST, UP, Entry, RedisLog

ANSWER_SECONDS = 2.0
"""How long a stopped Redis is waited for before it counts as away: long enough that
a Redis just resumed on a loaded machine (three suites on two cores) answers in time."""


def line(text: str) -> bytes:
    return f"{text}\n".encode()


@pytest.fixture
def logs(redis_url: str, room: str, client: redis.Redis) -> Iterator[list[RedisLog]]:
    """Two logs of one room: what two servers would hold."""
    both = [RedisLog.connect(redis_url, room), RedisLog.connect(redis_url, room)]
    yield both
    for log in both:
        log.client.close()


def test_two_servers_share_one_log_id_and_one_numbering(logs: list[RedisLog]) -> None:
    first, second = logs
    assert first.log_id == second.log_id
    assert first.writer_id != second.writer_id
    assert first.append([line("a"), line("b")]) == range(1, 3)
    assert second.append([line("c")]) == range(3, 4)
    assert first.end == second.end == 3
    assert second.read_range(0) == [line("a"), line("b"), line("c")]
    assert first.read_range(1) == [line("b"), line("c")]  # inside a batch: its tail
    assert first.read_range(3) == []


def test_lines_are_cut_at_newlines_only(logs: list[RedisLog]) -> None:
    """A carriage return, form feed or NEL inside a line does not end it."""
    odd = [b"a\rb\n", b"c\x0cd\x1ce\n", "f\u0085g\n".encode()]
    seen = Collector()
    follower = logs[1].follow(0, seen, seen.trouble, block_seconds=0.1)
    try:
        assert logs[0].append(odd) == range(1, 4)
        seen.wait(lambda: bool(seen.entries))
    finally:
        follower.stop()
        follower.join()
    assert seen.entries == [Entry(0, 3, odd, logs[0].writer_id, 3)]
    assert logs[1].read_range(1) == odd[1:]


def test_concurrent_appends_from_two_servers_are_one_contiguous_order(
    logs: list[RedisLog],
) -> None:
    """Three threads per server, each server's calls serialised by its own lock."""
    locks = [threading.Lock(), threading.Lock()]
    got: dict[bytes, range] = {}

    def writer(server: int, thread: int) -> None:
        for n in range(60):
            batch = [line(f"s{server} t{thread} n{n} {i}") for i in range(1 + n % 4)]
            with locks[server]:
                where = logs[server].append(batch)
            for text, position in zip(batch, where, strict=True):
                got[text] = range(position, position + 1)

    threads = [threading.Thread(target=writer, args=(s, t)) for s in (0, 1) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = len(got)
    assert total == 6 * sum(1 + n % 4 for n in range(60))
    history = logs[0].read_range(0, limit=total + 10)
    assert len(history) == total
    # Every line sits exactly at the position its append returned: contiguous, one order.
    assert {text: range(p, p + 1) for p, text in enumerate(history, start=1)} == got
    # Each thread's lines keep their order.
    for s in (0, 1):
        for t in range(3):
            mine = [text for text in history if text.startswith(f"s{s} t{t} ".encode())]
            numbers = [int(text.split()[2][1:]) for text in mine]
            assert numbers == sorted(numbers)


def test_followers_deliver_every_entry_once_in_stream_order(logs: list[RedisLog]) -> None:
    seen = [Collector(), Collector()]
    followers = [
        log.follow(0, c, c.trouble, block_seconds=0.1) for log, c in zip(logs, seen, strict=True)
    ]
    try:
        for n in range(100):
            logs[n % 2].append([line(f"{n}.{i}") for i in range(1 + n % 3)])
        end = logs[0].end
        for collector in seen:
            collector.wait(lambda c=collector: bool(c.entries) and c.entries[-1].end == end)
    finally:
        for follower in followers:
            follower.stop()
        for follower in followers:
            follower.join()
    assert seen[0].entries == seen[1].entries
    entries = seen[0].entries
    assert len(entries) == 100
    assert [e.start for e in entries] == [0] + [e.end for e in entries[:-1]]
    assert [b for e in entries for b in e.lines] == logs[1].read_range(0, limit=1000)
    assert seen[0].troubles == seen[1].troubles == []
    # Each entry names its writer and that writer's line count so far (its ticket).
    for log in logs:
        mine = [e for e in entries if e.writer == log.writer_id]
        assert [e.upto for e in mine] == list(itertools.accumulate(len(e.lines) for e in mine))
        assert mine[-1].upto == log.written


def test_a_follower_started_mid_history_gets_what_follows(logs: list[RedisLog]) -> None:
    logs[0].append([line("old 1"), line("old 2")])
    start = logs[1].end
    seen = Collector()
    follower = logs[1].follow(start, seen, seen.trouble, block_seconds=0.1)
    try:
        logs[0].append([line("new")])
        seen.wait(lambda: bool(seen.entries))
    finally:
        follower.stop()
        follower.join()
    assert seen.entries == [Entry(2, 3, [line("new")], logs[0].writer_id, 3)]


def test_follower_survives_a_stopped_redis_and_nothing_is_lost_or_doubled(
    faulty_redis: RedisExecutor, pause_redis: Paused, room: str
) -> None:
    """SIGSTOP Redis: appends time out (held, and one of them in doubt), then SIGCONT.

    The batch whose append timed out did reach Redis (it waited in the
    socket buffer); sending it again must not add it twice.
    """
    url = url_of(faulty_redis)
    writer = RedisLog.connect(url, room, timeout=ANSWER_SECONDS)
    reader = RedisLog.connect(url, room, timeout=ANSWER_SECONDS)
    seen = Collector()
    follower = reader.follow(
        0, seen, seen.trouble, block_seconds=0.1, timeout=ANSWER_SECONDS, retry_delays=(0.05, 0.1)
    )
    try:
        writer.append([line("before")])
        seen.wait(lambda: len(seen.entries) == 1)
        pause_redis.stop()
        with pytest.raises(StoreUnavailable) as first:
            writer.append([line("in doubt 1"), line("in doubt 2")])  # times out
        assert first.value.held == 2
        with pytest.raises(StoreUnavailable) as second:
            writer.append([line("held")])  # only held: no second wait for Redis
        assert second.value.held == 3
        assert writer.held_lines == 3
        seen.wait(lambda: DOWN in seen.kinds())
        pause_redis.resume()
        seen.wait(lambda: UP in seen.kinds())
        assert writer.flush() == 4
        assert writer.append([line("after")]) == range(5, 6)
        seen.wait(lambda: bool(seen.entries) and seen.entries[-1].end == 5)
    finally:
        pause_redis.resume()
        follower.stop()
        follower.join()
        writer.client.close()
        reader.client.close()
    texts = [b for e in seen.entries for b in e.lines]
    assert texts == [line(t) for t in ("before", "in doubt 1", "in doubt 2", "held", "after")]
    assert seen.kinds() == [DOWN, UP]  # said once each


def test_a_full_hold_refuses_the_batch_and_keeps_the_rest(
    faulty_redis: RedisExecutor, pause_redis: Paused, room: str
) -> None:
    log = RedisLog.connect(url_of(faulty_redis), room, timeout=ANSWER_SECONDS, max_held_lines=3)
    try:
        pause_redis.stop()
        with pytest.raises(StoreUnavailable):
            log.append([line("1"), line("2")])
        with pytest.raises(StoreUnavailable):
            log.append([line("3")])  # exactly at the limit: held
        with pytest.raises(StoreFull) as full:
            log.append([line("4")])  # one past it: refused
        assert full.value.held == 3
        pause_redis.resume()
        assert log.flush() == 3
        assert log.read_range(0) == [line("1"), line("2"), line("3")]
    finally:
        pause_redis.resume()
        log.client.close()


def test_trimmed_history_says_how_much_was_missed(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    log = RedisLog.connect(redis_url, room, max_entries=10)
    try:
        for n in range(300):  # MAXLEN ~ frees whole nodes (100 entries each by default)
            log.append([line(f"{n}a"), line(f"{n}b")])
        first_kept = client.xrange(f"tcpchat:{{{room}}}:log", "-", "+", count=1)[0][1]
        oldest = int(first_kept[b"end"]) - int(first_kept[b"n"])
        assert oldest > 0
        assert client.xlen(f"tcpchat:{{{room}}}:log") < 300
        with pytest.raises(Trimmed) as trimmed:
            log.read_range(0)
        assert (trimmed.value.missed, trimmed.value.oldest) == (oldest, oldest)
        with pytest.raises(Trimmed) as just:
            log.read_range(oldest - 1)  # one line short of what is kept
        assert just.value.missed == 1
        kept = log.read_range(oldest, limit=10_000)  # exactly the oldest kept: readable
        assert len(kept) == 600 - oldest
        assert kept[-1] == line("299b")
    finally:
        log.client.close()


def test_a_follower_behind_the_trimmed_history_reports_the_gap_then_goes_on(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    log = RedisLog.connect(redis_url, room, max_entries=10)
    for n in range(300):
        log.append([line(str(n))])
    oldest = int(client.xrange(f"tcpchat:{{{room}}}:log", "-", "+", count=1)[0][1][b"end"]) - 1
    assert oldest > 0
    seen = Collector()
    follower = log.follow(0, seen, seen.trouble, block_seconds=0.1)
    try:
        seen.wait(lambda: bool(seen.entries) and seen.entries[-1].end == 300)
    finally:
        follower.stop()
        follower.join()
        log.client.close()
    assert seen.troubles == [("gap", f"{oldest} lines were trimmed away before they were read")]
    assert seen.entries[0].start == oldest
    assert [b for e in seen.entries for b in e.lines] == [line(str(n)) for n in range(oldest, 300)]


def test_read_range_refuses_positions_that_are_not_in_the_log(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    log = RedisLog.connect(redis_url, room)
    try:
        log.append([line("x")])
        with pytest.raises(ValueError, match="past the end"):
            log.read_range(2)
        with pytest.raises(ValueError, match="negative"):
            log.read_range(-1)
        assert log.read_range(0, limit=1) == [line("x")]
    finally:
        log.client.close()


def test_a_log_lost_with_redis_data_is_not_appended_to(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    log = RedisLog.connect(redis_url, room)
    try:
        log.append([line("x")])
        client.flushall()  # what a Redis restarted without persistence looks like
        with pytest.raises(LogLost, match="lost"):
            log.append([line("y")])
        again = RedisLog.connect(redis_url, room)
        assert again.log_id != log.log_id
        again.client.close()
    finally:
        log.client.close()


def test_a_follower_says_once_that_the_log_was_lost(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    log = RedisLog.connect(redis_url, room)
    seen = Collector()
    follower = log.follow(0, seen, seen.trouble, block_seconds=0.1)
    try:
        log.append([line("x")])
        seen.wait(lambda: bool(seen.entries))
        client.flushall()  # Redis lost the room's data, and a new server started a new log
        RedisLog.connect(redis_url, room).client.close()
        seen.wait(lambda: bool(seen.troubles))
        follower.join()  # it stopped by itself
    finally:
        follower.stop()
        follower.join()
        log.client.close()
    assert seen.kinds() == [LOST]
    assert "lost" in seen.troubles[0][1]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "expected redis://HOST:PORT"),
        ("redis://", "expected redis://HOST:PORT"),
        ("redis://127.0.0.1:99999", "expected redis://HOST:PORT"),
        ("redis://127.0.0.1:6379/zero", "the database is a number"),
    ],
)
def test_a_bad_url_is_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(ChatError, match=message) as error:
        RedisLog.connect(url, "tcpchat")
    assert "\n" not in str(error.value)


def test_a_bad_room_name_is_one_clear_line() -> None:
    with pytest.raises(ChatError, match="bad --room"):
        RedisLog.connect("redis://127.0.0.1:1/0", "no spaces{}")


def test_an_unreachable_redis_is_one_line_and_can_be_retried(room: str) -> None:
    """Port 1 on loopback: nothing listens there."""
    with pytest.raises(StoreUnavailable, match="unreachable") as error:
        RedisLog.connect("redis://127.0.0.1:1/0", room, timeout=1.0)
    assert "\n" not in str(error.value)
    calls: list[tuple[str, int]] = []

    def retry(message: str, failures: int) -> bool:
        calls.append((message, failures))
        return failures < 2

    with pytest.raises(StoreUnavailable):
        RedisLog.connect("redis://127.0.0.1:1/0", room, timeout=1.0, retry=retry)
    assert [failures for _, failures in calls] == [0, 1, 2]
    assert all("unreachable" in message for message, _ in calls)
