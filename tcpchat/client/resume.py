"""The session side of one client connection: counting, replay, and what to send again.

A :class:`~tcpchat.session.Session` outlives connections (the console's
``--reconnect`` and the window's automatic reconnect hand the same one to
each new :class:`~tcpchat.client.ChatClient`); a :class:`Resumer` is its
partner for ONE connection.  The client's reader thread hands it every line
from the server (:meth:`Resumer.take`):

* ``~* …`` is a reply to this connection only: the ``~`` is stripped, and the
  session notices are acted on (``welcome back`` says how many missed lines
  follow, ``session`` sets the token, log id and position and is not shown,
  its token being a secret; ``history:`` and ``end of history`` frame the
  join history, shown dimmed);
* any other line is the next line of the room's log: the position advances
  by one, and an echo of our own chat acknowledges it.

When the replay is over (the count in ``welcome back``; at the ``session``
notice for a reset history or lines no longer kept, where no count can be
trusted; at once for ``/hello``, which has no replay) the resumer sends
:meth:`Session.to_send_after_resume` (chat whose echo never came, then what
was typed while away) and only then lets typed lines through
(:attr:`Resumer.ready`), so nothing overtakes them.

One process-wide lock (:data:`SESSION_LOCK`) guards every session, because a
session passes between clients: the stdin thread may still be queueing a
line through the client that just died while the next client's reader is
already flushing.  Its critical sections are a few list operations; it is
taken before a client's own lock, never after.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from tcpchat import events, protocol
from tcpchat.errors import ChatError
from tcpchat.session import PendingFull, Session

SESSION_LOCK = threading.Lock()
"""Guards every :class:`Session` (see the module docstring); taken before a client's lock."""

REPLY_PREFIX = "~"
"""What marks a line sent to this connection only (a reply, not a line of the log)."""


def is_reply(line: str) -> bool:
    """Whether *line* is a reply (``~* …``); no nickname can make a log line look like one."""
    return line.startswith(REPLY_PREFIX + protocol.NOTICE_PREFIX) or line == "~*"


@dataclass(frozen=True)
class Taken:
    """What one received line is, for the client to report."""

    text: str
    """The line without its ``~``."""
    history: bool = False
    """A line of the join history (or its framing): shown dimmed."""
    resumed: events.Resumed | None = None
    """Set on the line that ended a resume's replay."""
    hidden: bool = False
    """Bookkeeping for the client only (the ``session`` notice: its token is a secret)."""


class Resumer:
    """The session side of one connection (see the module docstring).

    *send_now* queues lines on the connection (the client's outbox) and is
    called with :data:`SESSION_LOCK` held, so nothing typed can overtake them.
    """

    def __init__(self, session: Session, send_now: Callable[[list[str]], None]) -> None:
        self.session = session
        self._send_now = send_now
        self.ready = False
        """The replay is over and the held lines went out: typed lines go straight out."""
        self._resuming = False  # this connection opened with /resume
        self._replay_left: int | None = None  # log lines of the replay still to come
        self._missed: int | None = None
        self._in_history = False
        self._has_session = False  # this connection's session notice came
        self.settled = False
        """The ``session`` notice came and the replay is over: this connection made it
        into the room (one dropped before is a failed try; see :mod:`.servers`)."""

    def first_line(self) -> str:
        """``/hello [NICK]`` or ``/resume …``: the first line after any ``/pass``."""
        with SESSION_LOCK:
            line = self.session.hello_line()
            self._resuming = line.startswith("/resume ")
            return line

    def opened(self) -> None:
        """The first line is queued: a new session has no replay to wait for."""
        with SESSION_LOCK:
            if not self._resuming:
                self._finish()

    def hold(self, texts: list[str]) -> None:
        """Keep *texts* for after the next resume (:data:`SESSION_LOCK` held by the caller).

        :class:`ChatError` (with the bound) for the first line with no room.
        """
        for number, line in enumerate(texts):
            try:
                self.session.queue(line)
            except PendingFull as exc:
                more = f" ({number} of its lines are waiting)" if number else ""
                raise ChatError(f"{exc}{more}") from None

    def send_held(self) -> None:
        """If the replay is over, send what was held since (by the client before this one).

        For a front end whose typing thread may have used the previous client
        just as this one took over: what it held would otherwise wait for the
        next resume.
        """
        with SESSION_LOCK:
            if not self.ready or not self.session.pending:
                return
            lines = list(self.session.pending)
            self.session.pending.clear()
            for line in lines:
                self.session.sent(line)
            self._send_now(lines)

    def lost(self) -> None:
        """The connection ended: lines typed from now on wait for the next one."""
        with SESSION_LOCK:
            self.ready = False

    def take(self, line: str) -> Taken:
        """Account for one received line; see :class:`Taken`."""
        with SESSION_LOCK:
            if is_reply(line):
                return self._reply(line[len(REPLY_PREFIX) :])
            self.session.received(line)
            self._follow_rename(line)
            if self._replay_left:
                self._replay_left -= 1
                if self._replay_left == 0:
                    self.settled = self._has_session
                    return Taken(line, resumed=self._finish())
            return Taken(line, history=self._in_history)

    def _reply(self, text: str) -> Taken:
        notice = protocol.parse_server_line(text).text
        welcome = protocol.WELCOME.parse(notice)
        if welcome is not None:
            self.session.nick = welcome["nick"]
            return Taken(text)
        back = protocol.WELCOME_BACK.parse(notice)
        if back is not None and back["count"].isdigit():
            self.session.nick = back["nick"]
            self._replay_left = self._missed = int(back["count"])
            return Taken(text)
        trimmed = protocol.WELCOME_BACK_TRIMMED.parse(notice)
        if trimmed is not None and trimmed["count"].isdigit():  # a gap, said to the user
            self.session.nick = trimmed["nick"]
            self._replay_left, self._missed = int(trimmed["count"]), None
            return Taken(text)
        gap = protocol.WELCOME_BACK_RESET.parse(notice)
        if gap is not None:  # said to the user; another log: no replay to wait for
            self.session.nick = gap["nick"]
            self._replay_left = self._missed = None
            return Taken(text)
        started = protocol.SESSION.parse(notice)
        if started is not None and started["position"].isdigit():
            self.session.started(started["token"], started["log_id"], int(started["position"]))
            self._has_session = True
            if not self._replay_left:  # no replay to wait for (or no count to trust)
                self.settled = True
                return Taken(text, resumed=self._finish(), hidden=True)
            return Taken(text, hidden=True)
        if protocol.HISTORY.parse(notice) is not None:
            self._in_history = True
            return Taken(text, history=True)
        if protocol.HISTORY_END.parse(notice) is not None:
            self._in_history = False
            return Taken(text, history=True)
        return Taken(text)

    def _follow_rename(self, line: str) -> None:
        parsed = protocol.parse_server_line(line)
        if parsed.kind is protocol.Kind.NOTICE:
            renamed = protocol.RENAMED.parse(parsed.text)
            if renamed is not None and renamed["old"] == self.session.nick:
                self.session.nick = renamed["new"]

    def _finish(self) -> events.Resumed | None:
        """The replay is over: send what was held, then let typed lines through."""
        if self.ready:
            return None
        lines = self.session.to_send_after_resume()
        for line in lines:
            self.session.sent(line)
        self._send_now(lines)
        self.ready = True
        if not self._resuming:
            return None
        return events.Resumed(self.session.nick or "", self._missed)
