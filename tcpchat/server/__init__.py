"""The threaded chat server: sockets and threads, no user interface.

One job per module (see ``docs/architecture.md``): :mod:`.core` (lifecycle
and accepting), :mod:`.door` (admission: every refusal, TLS, the password),
:mod:`.reader` (one connection's lines, through the guard), :mod:`.changes`
(the transaction every change of state runs in), :mod:`.delivery` (getting
lines out: the log, the fan-out thread, writers) and :mod:`.dispatch` (the
observers' thread).
"""

from tcpchat.server.core import DEFAULT_HOST, DEFAULT_PORT, ChatServer

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ChatServer"]
