"""Fixtures for the Redis store's tests: a real ``redis-server`` of our own.

pytest-redis's process fixture (``factories.redis_proc``) starts the Debian
``redis-server`` on 127.0.0.1 and a free port, without persistence
(``--save ""``; appendonly is off by default).  Its fixtures are
session-scoped: each xdist worker gets one server, and each test keeps to a
room of its own (``room``) and leaves an empty server behind (``client``
flushes it).  The fault-injection test stops and continues a server with
signals, so it gets a second server (``faulty_redis``) and cannot disturb the
others.  Nothing here skips: a missing ``redis-server`` or pytest-redis is an
error, in CI and out.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import pytest
import redis
from pytest_redis import factories
from pytest_redis.executor import RedisExecutor

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NO_PERSISTENCE = '""'  # becomes `--save ""`: no snapshots

redis_server = factories.redis_proc(
    executable=REDIS_SERVER, host="127.0.0.1", port=None, save=NO_PERSISTENCE
)
faulty_redis = factories.redis_proc(
    executable=REDIS_SERVER, host="127.0.0.1", port=None, save=NO_PERSISTENCE
)


def url_of(server: RedisExecutor) -> str:
    return f"redis://{server.host}:{server.port}/0"


@pytest.fixture
def redis_url(redis_server: RedisExecutor) -> str:
    return url_of(redis_server)


@pytest.fixture
def client(redis_server: RedisExecutor) -> Iterator[redis.Redis]:
    """A plain client of this worker's server; the server is flushed after the test."""
    plain = redis.Redis(redis_server.host, redis_server.port)
    yield plain
    plain.flushall()
    plain.close()


@pytest.fixture
def room() -> str:
    """A room name no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


def wait_until(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll *condition* until it is true (returned); fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)
    return result


class Paused:
    """SIGSTOP a redis-server and SIGCONT it again, whatever happens."""

    def __init__(self, server: RedisExecutor) -> None:
        assert server.process is not None
        self.pid = server.process.pid
        self.stopped = False

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.stopped = True

    def resume(self) -> None:
        if self.stopped:
            os.kill(self.pid, signal.SIGCONT)
            self.stopped = False


@pytest.fixture
def pause_redis(faulty_redis: RedisExecutor) -> Iterator[Paused]:
    paused = Paused(faulty_redis)
    try:
        yield paused
    finally:
        paused.resume()
        plain = redis.Redis(faulty_redis.host, faulty_redis.port)
        plain.flushall()
        plain.close()


class Collector:
    """What a follower delivers and reports, with a condition to await it."""

    def __init__(self) -> None:
        self.entries: list[Any] = []
        self.troubles: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, entries: list[Any]) -> None:
        with self._cond:
            self.entries.extend(entries)
            self._cond.notify_all()

    def trouble(self, kind: str, message: str) -> None:
        with self._cond:
            self.troubles.append((kind, message))
            self._cond.notify_all()

    def wait(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        with self._cond:
            assert self._cond.wait_for(condition, timeout), "condition not met in time"

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.troubles]
