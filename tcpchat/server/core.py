"""The threaded chat server's lifecycle: listen, accept, stop; the public :class:`ChatServer`.

Design
------
One *accept thread* accepts connections and hands each to the door
(:mod:`tcpchat.server.door`: every refusal, one seat count, TLS and the
password).  Each seated connection gets a *reader thread*
(:mod:`tcpchat.server.reader`), which turns bytes into lines and lines into
actions of the room (:class:`tcpchat.room.ChatRoom`), and, once a send has
to wait or the connection closes, a *writer thread*.  Every change of state
(a line read, a client arriving or leaving, the operator chatting) is a
transaction of :mod:`tcpchat.server.changes` under one lock, which is what
makes the order of the chat total.

How lines get out is :mod:`tcpchat.server.delivery`: broadcasts go into one
shared log (:mod:`tcpchat.chatlog`), and one *fan-out thread* sends each
client what it is behind with a non-blocking send, handing a client to its
own writer only when its socket is full.  So a broadcast costs one append,
a busy chat costs one send per client per batch of lines (not one thread
wake-up per client per line), and a client that stops reading only blocks
its own writer until it is dropped.

Stopping says goodbye to every client at once: each goodbye is over
``linger_seconds`` after it began (see :mod:`tcpchat.server.writer`), and
``stop()`` waits for them all under one deadline, so a hundred clients that
stopped reading cost ``linger_seconds``, not a hundred times that.  A thread
that cannot be started (``RuntimeError: can't start new thread``) closes the
connection it was for; the accept thread and everyone else go on.

Observers (see :mod:`tcpchat.events`) are called from one *event thread*
(:mod:`tcpchat.server.dispatch`), in the order things happened, so a slow
observer never stalls the chat.

Several servers can serve one room (``--store redis://``): then the log is
a mirror of the room's Redis stream and nicknames are claimed in Redis
(:mod:`tcpchat.server.cluster`); everything above stays as it is.

Trade-offs: a thread per client (two for one that fell behind) is simple to
read and lets the kernel do the blocking, at the price of one small stack
each; the single lock makes the order total but serialises the (short) work
of parsing commands.  This module is the server's lifecycle, as in CPython's
``socketserver``: the server owns listening and stopping, a handler (here the
reader) owns one connection.
"""

from __future__ import annotations

import select
import selectors
import socket
import ssl
import threading
import time

from tcpchat import events, protocol
from tcpchat.chatlog import ChatLog
from tcpchat.errors import ChatError, describe, format_address
from tcpchat.guard import Limits
from tcpchat.room import Broadcast, ChatRoom
from tcpchat.server.changes import Changes
from tcpchat.server.cluster import Cluster
from tcpchat.server.delivery import Connection
from tcpchat.server.dispatch import EventDispatcher
from tcpchat.server.door import Door, Gate
from tcpchat.server.reader import Reader
from tcpchat.streams import Stream, shutdown
from tcpchat.threads import start_thread

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = protocol.DEFAULT_PORT
SHUTDOWN_NOTICE = protocol.format_notice(protocol.SHUTTING_DOWN.format())


class ChatServer:
    """A chat server on *host*:*port*; ``start()``, then ``stop()``.

    The class attributes are the limits; override them per instance with the
    keyword arguments of the same name.
    """

    max_clients = 1000
    max_line_bytes = protocol.MAX_LINE_BYTES
    max_backlog_bytes = 1024 * 1024
    """How far (in bytes) a client may fall behind before it is dropped."""
    linger_seconds = 2.0
    """After the last byte to a closing client, how long to wait for its close."""
    recv_bytes = 65536
    history = 50
    """How many of the newest log lines a newcomer is shown (0: none)."""
    resume_grace = 60.0
    """Seconds a dropped session's nickname is kept for it to resume (0: none)."""
    hello_seconds = 0.25
    """How long a new connection's first line (``/hello``, ``/resume``) is waited for."""
    limits = Limits()
    """Flood control, connections per address and deadlines: see :mod:`tcpchat.guard`."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        operator_nick: str = protocol.OPERATOR_NICK,
        max_clients: int | None = None,
        max_line_bytes: int | None = None,
        max_backlog_bytes: int | None = None,
        limits: Limits | None = None,
        tls: ssl.SSLContext | None = None,
        password: str | None = None,
        history: int | None = None,
        resume_grace: float | None = None,
        log: ChatLog | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.host = host
        self.port = port
        if max_clients is not None:
            self.max_clients = max_clients
        if max_line_bytes is not None:
            self.max_line_bytes = max_line_bytes
        if max_backlog_bytes is not None:
            self.max_backlog_bytes = max_backlog_bytes
        if limits is not None:
            self.limits = limits
        if history is not None:
            self.history = history
        if resume_grace is not None:
            self.resume_grace = resume_grace
        if self.history < 0 or self.resume_grace < 0:
            raise ValueError("history and resume_grace cannot be negative")
        self._events = EventDispatcher()
        self._cluster = cluster
        registry = None
        if cluster is not None:  # the room's log and names are in Redis
            if log is not None:
                raise ValueError("a server has one log: a cluster's mirror or log, not both")
            log, registry = cluster.mirror, cluster.names
        room = ChatRoom(operator_nick, resume_grace=self.resume_grace, registry=registry)
        self._changes = Changes(
            room,
            self._events,
            max_backlog_bytes=self.max_backlog_bytes,
            linger_seconds=self.linger_seconds,
            history=self.history,
            log=log,
        )
        self._delivery = self._changes.delivery
        # TLS and the password are checked at the door, before joining.
        gate = Gate(tls=tls, password=password, timeout=self.limits.handshake_seconds)
        self._door = Door(
            self._changes,
            self._enter,
            max_clients=self.max_clients,
            per_address=self.limits.max_connections_per_address,
            gate=gate,
        )
        self._reader = Reader(
            self._changes,
            self._door,
            max_line_bytes=self.max_line_bytes,
            limits=self.limits,
            recv_bytes=self.recv_bytes,
        )
        self._reader.hello_seconds = self.hello_seconds
        self.failure: str | None = None
        """Why the server stopped itself (the room's log on Redis was lost), if it did."""
        if cluster is not None:
            cluster.on_lost = self._stop_itself
            cluster.attach(self._changes)
            self._reader.admit = cluster.admit
            self._reader.before_resume = cluster.catch_up
        self._listener: socket.socket | None = None
        self._wake_accept: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread = threading.Thread()
        self._started = False

    # -- public API --------------------------------------------------------

    def add_observer(self, observer: events.Observer) -> None:
        """Call *observer* (on the event thread) with every event from now on."""
        self._events.observers.append(observer)

    @property
    def address(self) -> tuple[str, int]:
        """The address actually listened on (the real port when 0 was asked)."""
        if self._listener is None:
            return (self.host, self.port)
        host, port = self._listener.getsockname()[:2]
        return (str(host), int(port))

    def nicks(self) -> list[str]:
        """Everyone online, the operator first; then, in a cluster, everyone on the others."""
        with self._changes.lock:
            return self._changes.room.online()

    def start(self) -> None:
        """Listen and start serving; :class:`ChatError` if the address is unusable."""
        if self._started:
            raise RuntimeError("a ChatServer can be started only once")
        where = format_address(self.host, self.port)
        if self._cluster is not None:  # the operator's nick first: taken is exit 2
            self._cluster.start(self._changes.room.operator_nick)
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            # create_server sets SO_REUSEADDR on POSIX, so a restart does not
            # wait for the old connections' TIME_WAIT to expire.
            self._listener = socket.create_server(
                (self.host, self.port), family=family, backlog=socket.SOMAXCONN
            )
        except OSError as exc:
            if self._cluster is not None:
                self._cluster.stop(0)
            raise ChatError(f"cannot listen on {where}: {describe(exc)}") from exc
        self._started = True
        self._wake_accept = socket.socketpair()
        self._events.start()
        self._delivery.start()
        self._accept_thread = start_thread(self._accept_loop, "tcpchat-accept")
        self._changes.post(events.Listening(*self.address))

    def say(self, text: str) -> None:
        """Chat as the operator (``Server: TEXT`` to everyone)."""
        changes = self._changes
        with changes():
            if not changes.stopping:
                changes.apply(changes.room.operator_says(text))

    def kick(self, nick: str, reason: str = "kicked by the operator") -> bool:
        """Close the connection of the client called *nick* (case-insensitively), telling it why.

        False if nobody of that name is online (the operator cannot be kicked).
        """
        changes = self._changes
        with changes():
            room = changes.room
            for connection in self._delivery.connections:
                if connection in room and room.nick_of(connection).casefold() == nick.casefold():
                    changes.expel(connection, reason)
                    return True
        return False

    def stop(self) -> None:
        """Send the shutdown notice, close every connection, join every thread."""
        changes = self._changes
        with changes():
            if changes.stopping or not self._started:
                return
            changes.stopping = True
            self._door.stop()
            if self._cluster is None:
                changes.apply([Broadcast(SHUTDOWN_NOTICE)])
            for connection in list(self._delivery.connections):
                # In a cluster the room goes on: only this server's clients are told, and
                # a session keeps its name (its lease) to resume on another server.
                moving = self._cluster is not None
                if moving:
                    changes.tell(connection, protocol.SHUTTING_DOWN.format())
                lost = moving and connection.session is not None
                changes.close(connection, protocol.SHUTTING_DOWN.format(), lost=lost)
            self._delivery.stop()
        if self._cluster is not None:  # their leaving reaches the room, then the threads end
            self._cluster.stop(self.linger_seconds)
        assert self._wake_accept is not None
        assert self._listener is not None
        self._wake_accept[1].send(b"x")
        self._accept_thread.join()
        self._listener.close()
        for sock in self._wake_accept:
            sock.close()
        self._door.join()
        self._delivery.join()
        # Every goodbye lingers at once, under one deadline (the writers keep it too).
        deadline = time.monotonic() + self.linger_seconds
        alive = list(self._reader.alive)
        for connection in alive:
            connection.done.wait(max(0.0, deadline - time.monotonic()))
        for connection in alive:
            shutdown(connection.sock, socket.SHUT_RDWR)
        for connection in alive:
            connection.reader.join()
        changes.post(events.Stopped())
        self._events.stop()

    def _stop_itself(self, reason: str) -> None:
        """Stop from a thread of its own (the caller may be one that stop() joins)."""
        self.failure = reason
        start_thread(self.stop, "tcpchat-stop")

    def __enter__(self) -> ChatServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- accepting ---------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        assert self._wake_accept is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_accept[0], selectors.EVENT_READ)
            while True:
                for key, _ in selector.select(self._expire()):
                    if key.fileobj is self._wake_accept[0]:
                        return
                    try:
                        sock, address = self._listener.accept()
                    except OSError as exc:  # e.g. out of file descriptors
                        error = f"cannot accept a connection: {describe(exc)}"
                        self._changes.post(events.Error(error))
                        self._wait_for_stop(0.1)  # back off instead of spinning
                        continue
                    try:
                        self._door.admit(sock, address[0], format_address(*address[:2]))
                    except RuntimeError as exc:  # "can't start new thread"
                        sock.close()
                        self._changes.post(events.Error(f"cannot serve a connection: {exc}"))

    def _expire(self) -> float | None:
        """Announce the sessions whose grace is over; how long until the next look.

        The accept thread is the timer: it looks at least once a second while
        there is a grace period (a nickname held meanwhile is seen then).
        """
        if self.resume_grace <= 0:
            return None
        changes = self._changes
        now = time.monotonic()
        with changes.lock:
            deadline = changes.room.reservations.next_deadline()
        if deadline is not None and deadline <= now:
            with changes():
                if not changes.stopping:
                    changes.apply(changes.room.expire(now))
                deadline = changes.room.reservations.next_deadline()
        return min(1.0, max(0.0, 1.0 if deadline is None else deadline - now))

    def _wait_for_stop(self, seconds: float) -> None:
        assert self._wake_accept is not None
        select.select([self._wake_accept[0]], [], [], seconds)

    def _enter(self, sock: Stream, host: str, peer: str) -> None:
        """Seat a connection the door let in: its reader joins it to the room (in a change).

        The reader first waits (briefly) for a session command as the first line.
        """
        connection = Connection(sock, peer)
        connection.cursor = self._delivery.log.end  # it hears everything from now on
        try:
            connection.reader = start_thread(
                self._reader.run, f"tcpchat-reader {peer}", connection, host
            )
        except RuntimeError as exc:  # "can't start new thread": out of threads or memory
            self._door.leave(host)
            sock.close()
            self._changes.emit(events.Error(f"cannot serve {peer}: {exc}"))
            return
        self._door.greeting[connection] = threading.Event()
        self._reader.alive.add(connection)

    def _log_bytes(self) -> int:
        """Bytes the shared log holds now (it stays under ``2 * max_backlog_bytes``)."""
        return self._delivery.log_bytes()
