"""Helpers for the Redis store's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Callable, Iterator

from pytest_redis.executor import RedisExecutor

from tcpchat.server import ChatServer
from tcpchat.server.cluster import Cluster, RedisStore

Start = Callable[..., ChatServer]
"""Starts a server of one room on Redis: ``start(operator_nick, lease=15.0, **options)``."""


def url_of(server: RedisExecutor) -> str:
    return f"redis://{server.host}:{server.port}/0"


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


def cluster_starter(url: str, room: str) -> Iterator[Start]:
    """Servers of *room* on the Redis at *url*, in this process; all stopped at the end."""
    servers: list[ChatServer] = []

    def start(nick: str, lease: float = 15.0, **options: object) -> ChatServer:
        store = RedisStore(url, room, lease_seconds=lease)
        history = int(options.pop("history", 50))  # type: ignore[call-overload]
        cluster = Cluster.connect(store, history=history, say=print)
        server = ChatServer(
            "127.0.0.1", 0, operator_nick=nick, cluster=cluster, history=history, **options
        )  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
