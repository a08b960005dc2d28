"""Turning socket failures into one-line messages a person can act on."""

from __future__ import annotations

import errno
import socket

_REASONS = {
    errno.ECONNREFUSED: "connection refused (is the server running?)",
    errno.EADDRINUSE: "address already in use (is another server running? choose --port)",
    errno.EADDRNOTAVAIL: "address not available on this machine (check --host)",
    errno.EACCES: "permission denied (ports below 1024 need privileges; choose --port)",
    errno.ECONNRESET: "connection reset by peer",
    errno.EPIPE: "connection closed by peer",
    errno.ETIMEDOUT: "timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EMFILE: "too many open files",
}


class ChatError(Exception):
    """An expected failure, with a message meant for the user (no traceback)."""


def describe(exc: BaseException) -> str:
    """A short, human reason for a socket error (``connection refused …``)."""
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, OSError) and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def format_address(host: str, port: int) -> str:
    """``host:port``, with brackets around IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
