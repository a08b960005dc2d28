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

from tcpchat import events, protocol
from tcpchat.room import Action, Broadcast, ChatRoom, Close, Reply
from tcpchat.server.delivery import Connection, Delivery
from tcpchat.server.dispatch import EventDispatcher
from tcpchat.streams import Stream

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
    ) -> None:
        self.lock = threading.Lock()
        self.room = room
        self.delivery = Delivery(
            self, max_backlog_bytes=max_backlog_bytes, linger_seconds=linger_seconds
        )
        self.stopping = False
        """Set (inside a change) when the server begins to stop: nobody joins after."""
        self._dispatcher = dispatcher
        self._observers = dispatcher.observers
        self._news: list[events.Event] = []  # for the observers once the lock is free

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

    def join(self, sock: Stream, peer: str) -> Connection:
        """Give an admitted connection its nickname and place in the log."""
        connection = Connection(sock, peer)
        self.delivery.add(connection)
        self.apply(self.room.connect(connection, peer))
        return connection

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
            elif self._observers:  # the rest are events, and only observers want them
                self._news.append(action)

    def tell(self, connection: Connection, notice: str) -> None:
        """Send notice text *notice* to *connection* only (clipped to the line limit)."""
        notice = protocol.clip(notice, protocol.MAX_SERVER_LINE_BYTES - len(protocol.NOTICE_PREFIX))
        self.delivery.reply(connection, protocol.encode_line(protocol.format_notice(notice)))

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
        self.close(connection, reason, abort=True)

    def close(self, connection: Connection, reason: str = "quit", abort: bool = False) -> None:
        """Take *connection* out of the room; its writer sends what is left, then hangs up.

        What is left is taken now, so a closing client no longer holds the log.
        With *abort* (a dropped or broken connection) nothing more is sent.
        """
        if connection.closing:
            return
        self.delivery.close(connection, abort)
        if connection in self.room:
            self.apply(self.room.disconnect(connection, reason))

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
