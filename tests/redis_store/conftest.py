"""Fixtures for the Redis store's tests: a real ``redis-server`` of our own.

pytest-redis's process fixture (``factories.redis_proc``) starts the Debian
``redis-server`` on 127.0.0.1 and a free port, without persistence
(``--save ""``; appendonly is off by default).  Its fixtures are
session-scoped: each xdist worker gets one server, and each test keeps to a
room of its own (``room``) and leaves an empty server behind (``client``
flushes it).  The fault-injection tests stop and continue a server with
signals, so they get a second server (``faulty_redis``) and cannot disturb
the others.  The helpers (a condition poller, a follower's collector, the
signals) are in redis_helpers.py, a module name no other test folder uses.
Without ``redis-server`` (a bare machine, the first-run container) the tests
that need one are skipped with the reason, and marked ``redis``: in CI
(``CI=true``) such a skip counts as a failure (tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Iterator

import pytest
import redis
from pytest_redis import factories
from pytest_redis.executor import RedisExecutor
from redis_helpers import Paused, Start, cluster_starter, url_of

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SERVER_FIXTURES = {"redis_server", "faulty_redis"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that need a redis-server; skip them, saying why, if there is none."""
    missing = not os.path.exists(REDIS_SERVER)
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)
            if missing:
                reason = "needs redis-server (Debian: apt install redis-server)"
                item.add_marker(pytest.mark.skip(reason=reason))


NO_PERSISTENCE = '""'  # becomes `--save ""`: no snapshots

redis_server = factories.redis_proc(
    executable=REDIS_SERVER, host="127.0.0.1", port=None, save=NO_PERSISTENCE
)
faulty_redis = factories.redis_proc(
    executable=REDIS_SERVER, host="127.0.0.1", port=None, save=NO_PERSISTENCE
)


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


@pytest.fixture
def start(redis_url: str, room: str, client: redis.Redis) -> Iterator[Start]:
    """Start a server of this test's room (on this worker's Redis); all stopped at the end."""
    yield from cluster_starter(redis_url, room)
