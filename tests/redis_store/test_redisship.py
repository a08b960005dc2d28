"""The shipper: batches submitted under the server's lock reach Redis once, in order."""

from __future__ import annotations

import threading

import pytest
import redis
from pytest_redis.executor import RedisExecutor
from redis_helpers import Collector, Paused, url_of, wait_until

from tcpchat.redisconn import StoreUnavailable
from tcpchat.redislog import RedisLog
from tcpchat.redisship import Shipper

ANSWER_SECONDS = 2.0
"""How long a stopped Redis is waited for before it counts as away: long enough that
a Redis just resumed on a loaded machine (three suites on two cores) answers in time."""


def line(text: str) -> bytes:
    return f"{text}\n".encode()


def texts(seen: Collector) -> list[bytes]:
    return [b for entry in seen.entries for b in entry.lines]


def test_batches_from_many_threads_arrive_once_each_in_submission_order(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    log = RedisLog.connect(redis_url, room)
    reader = RedisLog.connect(redis_url, room)
    seen = Collector()
    follower = reader.follow(0, seen, seen.trouble, block_seconds=0.1)
    shipper = Shipper(log)
    lock = threading.Lock()  # the server's lock: submission order is the order
    submitted: list[bytes] = []
    tickets: list[int] = []

    def sender(number: int) -> None:
        for n in range(250):
            batch = [line(f"t{number} {n} {i}") for i in range(1 + n % 3)]
            with lock:
                tickets.append(shipper.submit(batch))
                submitted.extend(batch)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert shipper.drained(60)
        seen.wait(lambda: len(texts(seen)) == len(submitted))
    finally:
        shipper.stop()
        shipper.join()
        follower.stop()
        follower.join()
        log.client.close()
        reader.client.close()
    assert texts(seen) == submitted
    assert shipper.shipped_end == len(submitted)
    # Tickets count the lines submitted; the entries' upto say which have come back.
    assert sorted(tickets) == tickets
    assert tickets[-1] == len(submitted) == seen.entries[-1].upto
    assert {e.writer for e in seen.entries} == {log.writer_id}
    assert [e.start for e in seen.entries] == [0] + [e.end for e in seen.entries[:-1]]


def test_while_redis_is_stopped_lines_wait_admit_pushes_back_and_nothing_doubles(
    faulty_redis: RedisExecutor, pause_redis: Paused, room: str
) -> None:
    url = url_of(faulty_redis)
    log = RedisLog.connect(url, room, timeout=ANSWER_SECONDS)
    reader = RedisLog.connect(url, room, timeout=ANSWER_SECONDS)
    seen = Collector()
    follower = reader.follow(
        0, seen, seen.trouble, block_seconds=0.1, timeout=ANSWER_SECONDS, retry_delays=(0.05,)
    )
    shipper = Shipper(log, max_pending_lines=3, retry_delays=(0.05,))
    try:
        pause_redis.stop()
        shipper.submit([line("a")])  # its append will time out: in doubt
        wait_until(lambda: log.held_lines == 1)  # the shipper has taken it
        shipper.submit([line("b")])
        assert shipper.admit(0)  # 2 waiting: under the limit
        shipper.submit([line("c"), line("d")])
        assert shipper.waiting_lines == 4
        assert not shipper.admit(0.2)  # at the limit: a reader is held back
        assert not shipper.drained(0.2)
        wait_until(lambda: shipper.failures >= 1)  # "a" timed out: it is in doubt
        pause_redis.resume()
        assert shipper.admit(30)
        assert shipper.drained(30)
        seen.wait(lambda: len(texts(seen)) == 4)
        shipper.submit([line("e")])
        seen.wait(lambda: len(texts(seen)) == 5)
    finally:
        pause_redis.resume()
        shipper.stop()
        shipper.join()
        follower.stop()
        follower.join()
        log.client.close()
        reader.client.close()
    assert texts(seen) == [line(t) for t in "abcde"]
    # "a" was sent once more (Redis had it: not doubled); b, c and d waited and went
    # in one entry (one round trip).
    assert [len(entry.lines) for entry in seen.entries] == [1, 3, 1]


def test_stop_ships_what_waits_then_refuses_more(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    log = RedisLog.connect(redis_url, room)
    shipper = Shipper(log)
    for n in range(100):
        shipper.submit([line(str(n))])
    shipper.stop()
    shipper.join()
    with pytest.raises(StoreUnavailable, match="closed"):
        shipper.submit([line("late")])
    assert not shipper.admit(0)
    assert log.read_range(0) == [line(str(n)) for n in range(100)]
    log.client.close()


def test_a_lost_log_stops_the_shipper_and_says_so(
    redis_url: str, room: str, client: redis.Redis
) -> None:
    log = RedisLog.connect(redis_url, room)
    lost: list[str] = []
    shipper = Shipper(log, on_lost=lost.append)
    try:
        shipper.submit([line("x")])
        assert shipper.drained(30)
        client.flushall()
        shipper.submit([line("y")])
        shipper.join(30)
        assert lost == [f"the room's log at {redis_url} was lost (Redis restarted empty?)"]
        with pytest.raises(StoreUnavailable, match="closed"):
            shipper.submit([line("z")])
    finally:
        shipper.stop()
        shipper.join()
        log.client.close()
