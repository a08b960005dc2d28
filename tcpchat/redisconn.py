"""Connecting to Redis for the room's stores, and its failures as one-line errors.

The Redis stores (:mod:`tcpchat.redislog`, :mod:`tcpchat.presence`) share
this: the ``--store`` URL's parsing, the room name's check, a client whose
calls fail after a timeout instead of retrying on their own (a silent retry
of a timed-out append could add it twice), and one translation of redis-py's
exceptions into :class:`ChatError` subclasses the server can act on:
:class:`StoreUnavailable` (try again later: hold back or refuse, never drop)
and :class:`LogLost` (Redis lost the room's data).

redis-py is an optional extra (``pip install 'tcpchat[redis]'``), imported
only when a Redis store is asked for, so tcpchat itself stays
standard-library only; it is imported with :func:`importlib.import_module`,
so type checks need no stubs for it and the clients are typed ``Any``.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from tcpchat.errors import ChatError

EXTRA_MISSING = "--store redis://... needs the redis extra: pip install 'tcpchat[redis]'"
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class StoreUnavailable(ChatError):
    """Redis cannot be reached now; what was appended is held, in order, not lost."""

    def __init__(self, message: str, held: int = 0) -> None:
        super().__init__(message)
        self.held = held
        """Lines held here until :meth:`RedisLog.flush` gets them out."""


class StoreFull(StoreUnavailable):
    """Redis is away and ``max_held_lines`` are held: this batch was refused, not kept."""


class LogLost(ChatError):
    """The room's log ID changed: Redis lost its data, and positions lost their meaning."""


def load_redis() -> Any:
    """The redis-py module, or a one-line :class:`ChatError` naming the extra."""
    try:
        return importlib.import_module("redis")
    except ImportError:
        raise ChatError(EXTRA_MISSING) from None


def parse_url(url: str) -> dict[str, Any]:
    """``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` as keyword arguments for redis-py."""
    usage = f"bad --store URL {url!r}: expected redis://HOST:PORT[/DB]"
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError:
        raise ChatError(usage) from None
    path = parts.path.strip("/")
    if parts.scheme != "redis" or not parts.hostname or parts.query or parts.fragment:
        raise ChatError(usage)
    if path and not path.isdigit():
        raise ChatError(f"{usage} (the database is a number)")
    return {
        "host": parts.hostname,
        "port": port,
        "db": int(path or 0),
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }


def open_client(url: str, timeout: float) -> Any:
    """A redis-py client for *url* whose calls fail after *timeout* instead of retrying.

    Retrying is the caller's business: a silent retry of a timed-out append
    could add it twice (see "Exactly once" above).
    """
    redis = load_redis()
    retry = importlib.import_module("redis.retry").Retry
    backoff = importlib.import_module("redis.backoff").NoBackoff
    return redis.Redis(
        **parse_url(url),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=retry(backoff(), 0),
    )


def unavailable(redis: Any, exc: BaseException) -> bool:
    """Whether *exc* means Redis cannot be reached (try again later)."""
    errors = redis.exceptions
    return isinstance(exc, (errors.ConnectionError, errors.TimeoutError, OSError))


def check_room(room: str) -> str:
    if not ROOM_PATTERN.fullmatch(room):
        raise ChatError(f"bad --room {room!r}: use 1-64 letters, digits, '_', '.' or '-'")
    return room


def call(redis: Any, url: str, action: Callable[[], Any]) -> Any:
    """Run *action* against Redis; its failures as :class:`ChatError` subclasses."""
    try:
        return action()
    except redis.exceptions.ResponseError as exc:
        if str(exc).startswith("TCPCHAT_LOG_LOST"):
            raise LogLost(f"the room's log at {url} was lost (Redis restarted empty?)") from None
        raise ChatError(f"Redis at {url} said: {exc}") from None
    except (redis.exceptions.RedisError, OSError) as exc:
        if unavailable(redis, exc):
            raise StoreUnavailable(f"Redis at {url} is unreachable: {reason(exc)}") from None
        raise ChatError(f"Redis at {url}: {reason(exc)}") from None


def reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text.splitlines()[0][:200]
