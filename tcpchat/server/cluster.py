"""One room, several servers: the room's log and its names in Redis (``--store redis://``).

Design
------
Each server keeps serving its own clients exactly as a server alone does
(:mod:`tcpchat.server.delivery`: one log, a cursor per client, one fan-out
thread); what changes is where the log's lines come from.  A server alone
appends its broadcasts to its log under its lock.  A server of a cluster
instead *ships* them to the room's Redis stream (:mod:`tcpchat.redisship`:
one thread, group commit), and its log becomes a **mirror** of the stream:
a :class:`tcpchat.redislog.Follower` thread reads every entry of the stream,
every server's, and appends it to the mirror inside a change.  So every
client on every server gets the lines in the stream's one order, and
positions are the room's (a count of its lines), so a session can resume on
any server of the room.  The price: a client sees even its own line only
after a round trip through Redis (ship, then read back), and a reply (a
``/who`` answer) may come before the echo of a line sent just before it,
since replies go after what the mirror holds when they are made.

Names
-----
A nickname is unique across the room: :class:`Names` is the room's
:class:`tcpchat.room.Registry`, backed by :class:`tcpchat.presence.Presence`
(a claim per nick, with a lease that a thread here renews every third of
it).  A claim is made under the server's lock, a Redis round trip per join
or rename (never per line).  A session's claim keeps a digest of its token,
so when its server goes away the session can resume on another server,
which takes the claim over.  A server that crashes stops renewing: once the
lease has run out, one surviving server sweeps its members and tells the
room they left.  While Redis is away, names are given out on this server's
word and claimed when it is back; a name claimed meanwhile on another server
wins, and this server's holder is told and closed.

When Redis is away
------------------
Nothing is dropped: the shipper holds what it could not send (and sends it
once Redis is back, exactly once), readers stop reading their clients once
``max_pending_lines`` wait (backpressure), and every local client is told
once that the store is away and once that it is back (:data:`STORE_DOWN`,
:data:`STORE_UP`).  The follower catches up from the last entry it read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from typing import Callable

from tcpchat import events, nicks, protocol
from tcpchat.chatlog import MemoryLog, Trimmed
from tcpchat.presence import Announce, Presence
from tcpchat.protocol import CONNECTION_LOST, STORE_DOWN, STORE_UP
from tcpchat.redisconn import StoreUnavailable
from tcpchat.redislog import DOWN, LOST, UP, Entry, Follower, RedisLog
from tcpchat.redisship import Shipper
from tcpchat.server.changes import Changes
from tcpchat.threads import start_thread


@dataclass(frozen=True)
class RedisStore:
    """Where a room's log and names are kept: ``--store redis://…`` and its options."""

    url: str
    room: str = "tcpchat"
    max_entries: int = 10_000
    """Stream entries Redis keeps (``MAXLEN ~``); an entry is one shipped batch of lines."""
    lease_seconds: float = 15.0
    """How long a crashed server's nicknames stay taken."""


class Cluster:
    """This server's part of a room on Redis: the log's mirror, the shipper, the names.

    :meth:`connect` (at start-up, before the server is built), :meth:`attach`
    (to the server's changes), :meth:`start` (claims the operator's nick),
    :meth:`stop` (after the server's last broadcasts).
    """

    retry_seconds = 1.0
    """How often an unreachable Redis is tried again at start-up."""
    catch_up_seconds = 2.0
    """How long a resume waits for the mirror to hold everything Redis had when it came."""

    def __init__(self, store: RedisStore, log: RedisLog, presence: Presence, history: int) -> None:
        self.store = store
        self.log = log
        self.presence = presence
        self.mirror = self._load_history(history)
        """The server's log: the stream's lines from where this server started, in its order."""
        self.names = Names(self)
        self.down = False
        """Redis was found away (by the follower) and is not back yet."""
        self._changes: Changes | None = None
        self._shipper: Shipper | None = None
        self._follower: Follower | None = None
        self._renewer = threading.Thread()
        self._stopping = threading.Event()
        self._mirrored = threading.Condition()  # notified whenever the mirror grows
        self._told_unstored = False  # lines came after the shipper stopped (said once)
        self._operator = ""  # the operator's nick, once claimed
        self.on_lost: Callable[[str], None] = lambda message: None
        """Called (once, from a store thread) when the room's log is lost: the server stops."""
        self._lost = False

    @classmethod
    def connect(cls, store: RedisStore, *, history: int, say: Callable[[str], None]) -> Cluster:
        """Reach the room on Redis, retrying every :attr:`retry_seconds` (said once).

        :class:`tcpchat.errors.ChatError` (one line) for what retrying cannot fix: a bad URL,
        a missing ``redis`` extra, a bad room name.
        """
        waited = threading.Event()

        def retry(reason: str, failures: int) -> bool:
            if failures == 0:
                say(f"{reason}; retrying every {cls.retry_seconds:g} s")
            waited.wait(cls.retry_seconds)  # an Event no one sets: a wait Ctrl-C can end
            return True

        log = RedisLog.connect(store.url, store.room, max_entries=store.max_entries, retry=retry)
        owner = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(2)}"  # for people
        left = protocol.format_notice(protocol.LEFT.format(nick="\0", reason=CONNECTION_LOST))
        before, after = left.split("\0")
        presence = Presence.connect(
            store.url, store.room, owner, fold=nicks.skeleton,
            lease_seconds=store.lease_seconds, timeout=0.5,
            announce=Announce(before, after, store.max_entries),
        )  # fmt: skip
        while True:
            try:
                return cls(store, log, presence, history)
            except StoreUnavailable as exc:
                retry(str(exc), 1)

    def _load_history(self, history: int) -> MemoryLog:
        """A mirror that starts with the room's newest *history* lines (fewer if trimmed)."""
        end = self.log.end
        start = max(0, end - history)
        try:
            lines = self.log.read_range(start, limit=max(1, history)) if start < end else []
        except Trimmed as trimmed:
            start = int(str(trimmed.oldest))  # the Redis log's positions are ints
            lines = self.log.read_range(start, limit=max(1, end - start)) if start < end else []
        mirror = MemoryLog(start)
        mirror.log_id = self.log.log_id  # positions are the room's: resumable on any server
        if lines:
            mirror.append(lines)
        return mirror

    # -- wiring (before the server starts) ----------------------------------

    def attach(self, changes: Changes) -> None:
        """Ship *changes*' broadcasts to Redis instead of appending them to the log."""
        self._changes = changes
        self.names.lock = changes.lock
        changes.delivery.ship = self._ship
        changes.chat_from_log = True  # the operator reads the chat in the room's order

    def start(self, operator_nick: str) -> None:
        """Claim the operator's nick (a one-line :class:`ChatError` if taken); start threads."""
        self.presence.claim_operator(operator_nick)
        self._operator = operator_nick
        self._shipper = Shipper(self.log, on_lost=lambda message: self._trouble(LOST, message))
        follow = self.log.follow
        self._follower = follow(self.mirror.end, self._append, self._trouble, timeout=2.0)
        name = f"tcpchat-presence {self.store.room}"
        self._renewer = start_thread(self._renew_loop, name)

    def stop(self, drain_seconds: float) -> None:
        """Ship what is waiting (for at most *drain_seconds*), then stop every thread."""
        self._stopping.set()
        if self._shipper is not None:
            self._shipper.drained(drain_seconds)
            self._shipper.stop()
            self._shipper.join()
        if self._follower is not None:
            self._follower.stop()
            self._follower.join()
        if self._renewer.is_alive():
            self._renewer.join()
        if self._operator:
            self.names.release(self._operator)
        # The sessions' names are left to their leases: a session resuming on another
        # server takes its name over; one that does not come back is announced gone
        # by another server when the lease ends (a rolling restart loses nobody).

    # -- what the server calls ----------------------------------------------

    def admit(self) -> None:
        """Wait (a reader, before it reads more) while too many lines wait for Redis."""
        if self._shipper is not None:
            self._shipper.admit()

    def catch_up(self) -> None:
        """Wait until the mirror holds everything Redis holds now (a resume comes next).

        A session resuming here after its server died may have sent lines
        that reached Redis but not yet this mirror: its replay must hold them,
        or it would send them again.
        """
        try:
            end = self.log.end
        except StoreUnavailable:
            return  # it resumes from what is here; the rest follows when Redis is back
        with self._mirrored:
            self._mirrored.wait_for(lambda: self.mirror.end >= end, self.catch_up_seconds)

    def _ship(self, lines: list[bytes]) -> None:
        """Delivery's batch, under the server's lock: hand it to the shipper (never blocks)."""
        assert self._shipper is not None
        assert self._changes is not None
        try:
            self._shipper.submit(lines)
        except StoreUnavailable:  # the shipper has ended: the server stops, or the log is lost
            if not self._told_unstored:
                message = "lines can no longer be stored in the room's log: restart this server"
                self._changes.emit(events.Error(message))
                self._told_unstored = True

    # -- the follower's thread ------------------------------------------------

    def _append(self, entries: list[Entry]) -> None:
        """Entries of the stream, in its order: into the mirror, out to the clients."""
        changes = self._changes
        assert changes is not None
        with changes():
            for entry in entries:
                if entry.start != self.mirror.end:  # a gap, reported by the follower already
                    self.mirror.skip(entry.start)
                self.mirror.append(entry.lines)
                if changes.observed:
                    self._tell_observers(changes, entry)
            changes.delivery.grew()
        with self._mirrored:
            self._mirrored.notify_all()

    def _tell_observers(self, changes: Changes, entry: Entry) -> None:
        """An entry's lines as events: the operator's window shows the room in its order.

        Chat from every server comes from here; notices only from the other
        servers' entries (this server's room told its own joins and leaves,
        with more detail, as they happened).
        """
        ours = entry.writer == self.log.writer_id
        for raw in entry.lines:
            line = protocol.parse_server_line(raw.decode("utf-8", "replace").rstrip("\n"))
            if line.kind is protocol.Kind.CHAT:
                own = line.nick == self._operator
                changes.emit(events.Message(line.nick, line.text, own))
            elif not ours:
                changes.emit(events.Notice(line.text))

    def _trouble(self, kind: str, message: str) -> None:
        """The follower (or the shipper) found Redis away, back, trimmed, or lost: say so."""
        changes = self._changes
        assert changes is not None
        event: events.Event
        if kind == DOWN:  # the server's log says what its clients are told
            self.down = True
            notice = STORE_DOWN.format(reason=message)
            event = events.Notice(notice)
        elif kind == UP:
            self.down = False
            notice = STORE_UP.format()
            event = events.Notice(notice)
        elif kind == LOST:
            if self._lost:
                return
            self._lost = True
            notice = f"{message}: this server stops; restart the servers of this room"
            event = events.Error(notice)
        else:  # GAP
            notice, event = message, events.Error(message)
        with changes():
            changes.emit(event)
            for connection in list(changes.delivery.connections):
                changes.tell(connection, notice)
        if kind == LOST:  # positions would mean two things: stop rather than mix them
            self.on_lost(notice)

    # -- the renewer's thread -------------------------------------------------

    def _renew_loop(self) -> None:
        """Renew this server's claims every third of the lease; act on what renewing finds."""
        interval = self.store.lease_seconds / 3
        while not self._stopping.wait(interval):
            try:
                lost = self.names.settle()
                renewal = self.presence.renew()
                # (A crashed server's members: the renewal announced them in the stream.)
                lost += self.names.claim_again(renewal.lost)
            except StoreUnavailable:
                continue
            if lost:
                self._let_go(lost)

    def _let_go(self, lost: list[str]) -> None:
        """This server's names now held elsewhere: a session resumed on another server,
        or a name claimed there while Redis was away."""
        changes = self._changes
        assert changes is not None
        with changes():
            for nick in lost:
                changes.apply(changes.room.let_go(nick))


class Names:
    """The room's :class:`tcpchat.room.Registry` on a :class:`Presence`, kept by a :class:`Cluster`.

    Called under the server's lock.  While Redis is away, a name is given on
    this server's word and remembered; :meth:`settle` claims it when Redis
    is back.
    """

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._presence = cluster.presence
        self.lock = threading.Lock()
        """The server's lock, which :meth:`claim` and :meth:`release` are called under."""
        self._unsure: set[str] = set()  # given while Redis was away, not claimed yet
        self._tokens: dict[str, str] = {}  # nick -> its session's token, for a claim again
        self._others: list[str] = []  # the last /who answer from Redis, for while it is away

    def claim(self, nick: str, token: str = "", replacing: str = "") -> bool:
        presence = self._presence
        respelling = bool(replacing) and presence.fold(replacing) == presence.fold(nick)
        if not self._cluster.down:
            try:
                if not presence.claim(nick, replacing if respelling else "", token):
                    return False
            except StoreUnavailable:
                self._unsure.add(nick)
        else:
            self._unsure.add(nick)
        if replacing:
            self._tokens.pop(replacing, None)
            if not respelling:
                self.release(replacing)
        self._tokens[nick] = token
        return True

    def release(self, nick: str) -> None:
        self._unsure.discard(nick)
        self._tokens.pop(nick, None)
        with contextlib.suppress(StoreUnavailable):  # kept, and released when Redis is back
            self._presence.release(nick)

    def take_over(self, nick: str, token: str) -> str | None:
        if self._cluster.down:
            return None
        try:
            held = self._presence.take_over(nick, token)
        except StoreUnavailable:
            return None
        if held is not None:
            self._tokens[held] = token
        return held

    def others(self) -> list[str]:
        presence = self._presence
        try:
            members = presence.members()
        except StoreUnavailable:
            return self._others
        self._others = [m.nick for m in members if m.owner != presence.owner]
        return self._others

    def claim_again(self, nicks: list[str]) -> list[str]:
        """Claim this room's *nicks* again, each for its session; those another server has.

        For names given while Redis was away, and for names whose claim ran out
        while this server could not renew it.  (The renewing thread;
        :class:`StoreUnavailable` if Redis is away.)
        """
        return [n for n in nicks if not self._presence.claim(n, token=self._tokens.get(n, ""))]

    def settle(self) -> list[str]:
        """Claim the names given while Redis was away; those another server has now.

        (The renewing thread; :class:`StoreUnavailable` if Redis is still away: they wait.)
        """
        with self.lock:
            unsure, self._unsure = self._unsure, set()
        try:
            return self.claim_again(sorted(unsure))
        except StoreUnavailable:
            with self.lock:
                self._unsure |= unsure
            raise
