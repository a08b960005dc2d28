"""The change transaction: every change of the server's state, under one lock.

A line read, a client arriving or leaving, the operator chatting, a slow
client dropped: each is one *change*, opened with ``with changes(sender):``
on whichever thread saw it happen.  :class:`Changes` owns the lock, the room
(:class:`tcpchat.room.ChatRoom`) and the delivery
(:class:`tcpchat.server.delivery.Delivery`), so "under the lock" is a
structure here, not a comment: the methods that change state are only
called inside a change, and delivery is handed this object (not callbacks)
to open changes and drop connections of its own.

A change ends in three steps, in this order (see :meth:`Changes._end`):
the broadcasts made inside it are logged as one batch and delivery says who
must be woken; the lock is released; then the threads are woken and the
events go to the observers, so neither a woken thread nor an observer ever
waits for the lock the change held.  Since every change holds the one lock,
the order of changes is the order everyone sees.
"""

from __future__ import annotations

import threading
import time

from tcpchat import events, protocol
from tcpchat.chatlog import ChatLog, Position
from tcpchat.protocol import Hello, Resume
from tcpchat.reservations import new_token
from tcpchat.room import Action, Broadcast, ChatRoom, Close, Reply
from tcpchat.server.delivery import Connection, Delivery
from tcpchat.server.dispatch import EventDispatcher

MAX_REASON_BYTES = 256
"""Longest caller-supplied reason (a /kick's) in a notice, as the room clips its echoes."""


class Changes:
    """The lock, the room and the delivery; ``with changes(sender):`` for each change."""

    def __init__(
        self,
        room: ChatRoom,
        dispatcher: EventDispatcher,
        *,
        max_backlog_bytes: int,
        linger_seconds: float,
        history: int = 0,
        log: ChatLog | None = None,
    ) -> None:
        self.lock = threading.Lock()
        self.room = room
        self.history = history
        """How many of the newest log lines a newcomer is shown."""
        self.delivery = Delivery(
            self,
            max_backlog_bytes=max_backlog_bytes,
            linger_seconds=linger_seconds,
            log=log,
            keep_lines=history,
        )
        self.stopping = False
        """Set (inside a change) when the server begins to stop: nobody joins after."""
        self._dispatcher = dispatcher
        self._observers = dispatcher.observers
        self._news: list[events.Event] = []  # for the observers once the lock is free
        self.chat_from_log = False
        """Chat events come from the log, not the room (a cluster: in the shared log's order)."""

    def __call__(self, sender: Connection | None = None) -> _Change:
        """Open a change; the broadcasts made inside go out together when it ends.

        *sender* is the connection whose line the change handles, if any:
        see :meth:`tcpchat.server.delivery.Delivery.publish`.
        """
        return _Change(self, sender)

    def _end(self, sender: Connection | None) -> None:
        try:
            handoff = self.delivery.publish(sender)
            news, self._news = self._news, []
        finally:
            self.lock.release()
        self.delivery.hand_off(handoff)
        if news:
            self._dispatcher.post(news)

    # -- inside a change -----------------------------------------------------

    def join(self, connection: Connection, first: Hello | Resume | None = None) -> None:
        """Give an admitted connection its nickname and place in the log.

        *first*: the session command it opened with, if any (see docs/protocol.md).
        The connection's cursor is where the log was when it arrived (set by
        the server): what was said while its first line was awaited follows
        its history.
        """
        arrival = self._arrival(connection)
        self.delivery.add(connection)
        if isinstance(first, Resume):
            self._resume(connection, first, arrival)
            return
        if first is not None:
            connection.session = new_token()
        nick = "" if first is None else first.nick
        actions = self.room.connect(connection, connection.peer, nick, connection.session or "")
        self._greet(connection, actions, self._history_start(arrival), arrival)

    def _resume(self, connection: Connection, first: Resume, arrival: Position) -> None:
        """Seat a returning session where it was: its nickname back, the lines it missed."""
        connection.session = first.token
        nick, actions = self.room.resume(connection, connection.peer, first.nick, first.token)
        log = self.delivery.log
        end, oldest, position = log.end, log.oldest, first.position
        if not (isinstance(end, int) and isinstance(oldest, int)):
            end = oldest = -1  # positions that are not counts: cannot resume by number
        history: Position | None = None
        if first.log_id != log.log_id or position > end or end < 0:
            # another log (a restart without a store): history, as for a newcomer
            welcome = protocol.WELCOME_BACK_RESET.format(nick=nick)
            start, history = self._history_start(arrival), arrival
        elif (start := self._affordable(max(position, oldest), end)) != position:
            # trimmed away, or more than half the budget behind (it would be dropped at once)
            missed = start - position
            welcome = protocol.WELCOME_BACK_TRIMMED.format(
                nick=nick, missed=missed, count=end - start
            )
        else:
            welcome = protocol.WELCOME_BACK.format(nick=nick, count=end - position)
            start = position
        back = Reply(connection, protocol.format_notice(welcome))
        self._greet(connection, [back, *actions], start, history)

    def _arrival(self, connection: Connection) -> Position:
        """Where the log was when *connection* arrived (the oldest kept, if trimmed since)."""
        arrival, oldest = connection.cursor, self.delivery.log.oldest
        if isinstance(arrival, int) and isinstance(oldest, int) and arrival < oldest:
            return oldest
        return arrival

    def _history_start(self, arrival: Position) -> Position:
        """Where a newcomer's history starts: the :attr:`history` lines before *arrival*."""
        oldest = self.delivery.log.oldest
        if not (isinstance(arrival, int) and isinstance(oldest, int)):
            return arrival  # a store whose positions are not counts: no history
        return self._affordable(max(oldest, arrival - self.history), arrival)

    def _affordable(self, start: int, until: int) -> int:
        """The first position from *start* on (at most *until*) whose lines to the end
        take at most half a client's budget (a history or a resume too big is cut)."""
        log, budget = self.delivery.log, self.delivery.max_backlog_bytes // 2
        if log.bytes_after(start) <= budget:
            return start
        low, high = start, max(start, until)
        while low < high:  # bytes_after falls as the position grows: bisect
            middle = (low + high) // 2
            if log.bytes_after(middle) <= budget:
                high = middle
            else:
                low = middle + 1
        return low

    def _greet(
        self,
        connection: Connection,
        actions: list[Action],
        start: Position,
        history: Position | None,
    ) -> None:
        """The replies in *actions*, the session notice, then the log from *start* on.

        *history*: the lines from *start* to there are history, framed by two
        notices.  Then the rest of *actions* (a join notice for everyone, events).
        """
        delivery = self.delivery
        delivery.rewind(connection, start)
        replies = [action.line for action in actions if isinstance(action, Reply)]
        if connection.session is not None:
            log_id = delivery.log.log_id
            session = protocol.SESSION.format(
                token=connection.session, log_id=log_id, position=start
            )
            replies.append(protocol.format_notice(session))
        count = 0
        if isinstance(history, int) and isinstance(start, int):
            count = history - start
        if count:
            replies.append(protocol.format_notice(protocol.HISTORY.format(count=count)))
        for line in replies:
            delivery.reply(connection, protocol.encode_line(line), at=start)
        if count:
            last = protocol.format_notice(protocol.HISTORY_END.format())
            delivery.reply(connection, protocol.encode_line(last), at=history)
        for action in actions:
            if isinstance(action, Close):  # an older connection of this session: silently
                assert isinstance(action.connection, Connection)
                self.close(action.connection, "resumed on another connection", abort=True)
        self.apply([action for action in actions if not isinstance(action, (Reply, Close))])

    def apply(self, actions: list[Action]) -> None:
        """Carry out what the room asked for: send, close, tell the observers."""
        for action in actions:
            if isinstance(action, Broadcast):
                self.delivery.broadcast(protocol.encode_line(action.line))
            elif isinstance(action, Reply):
                assert isinstance(action.connection, Connection)
                self.delivery.reply(action.connection, protocol.encode_line(action.line))
            elif isinstance(action, Close):
                assert isinstance(action.connection, Connection)
                self.close(action.connection)
            elif self._observers and not (  # the rest are events, for observers only
                self.chat_from_log and isinstance(action, events.Message)  # (see above)
            ):
                self._news.append(action)

    def tell(self, connection: Connection, notice: str) -> None:
        """Send notice text *notice* to *connection* only (clipped to the line limit)."""
        notice = protocol.clip(notice, protocol.MAX_SERVER_LINE_BYTES - len(protocol.NOTICE_PREFIX))
        self.delivery.reply(connection, protocol.encode_line(protocol.format_notice(notice)))

    @property
    def observed(self) -> bool:
        """Whether anyone listens to the events (if not, none need be made)."""
        return bool(self._observers)

    def emit(self, event: events.Event) -> None:
        """Queue *event* for the observers when this change is over."""
        if self._observers:
            self._news.append(event)

    def expel(self, connection: Connection, reason: str) -> None:
        """Tell *connection* why it is being closed, then close it."""
        reason = protocol.clip(reason, MAX_REASON_BYTES)
        self.tell(connection, protocol.CLOSING.format(reason=reason))
        self.close(connection, reason)

    def drop(self, connection: Connection, reason: str) -> None:
        """Close a broken or too slow *connection* without sending it anything more."""
        self.close(connection, reason, abort=True, lost=True)

    def close(
        self, connection: Connection, reason: str = "quit", abort: bool = False, lost: bool = False
    ) -> None:
        """Take *connection* out of the room; its writer sends what is left, then hangs up.

        What is left is taken now, so a closing client no longer holds the log.
        With *abort* (a dropped or broken connection) nothing more is sent.
        *lost*: not closed on purpose, so a session keeps its nickname for its grace.
        """
        if connection.closing:
            return
        self.delivery.close(connection, abort)
        if connection in self.room:
            now = time.monotonic() if lost else None
            self.apply(self.room.disconnect(connection, reason, now))

    # -- outside a change ----------------------------------------------------

    def post(self, event: events.Event) -> None:
        """Hand *event* to the observers now (not inside a change)."""
        self._dispatcher.post([event])


class _Change:
    """One change: holds the lock from ``__enter__`` to ``__exit__``, then delivers.

    A class rather than ``@contextmanager``: it runs twice per message, and a
    generator costs four times as much.
    """

    __slots__ = ("changes", "sender")

    def __init__(self, changes: Changes, sender: Connection | None) -> None:
        self.changes = changes
        self.sender = sender

    def __enter__(self) -> None:
        self.changes.lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.changes._end(self.sender)
