"""The threaded chat server core: sockets and threads, no user interface.

Design
------
One *accept thread* admits connections.  Each connection gets a *reader
thread*, which turns bytes into lines (:class:`tcpchat.protocol.LineBuffer`)
and lines into actions (:class:`tcpchat.room.ChatRoom`), and, once a send
has to wait or the connection closes, a *writer thread*.  Every change of state (a line
read, a client arriving or leaving, the operator chatting) happens under one
lock, which is what makes the order of the chat total.

How lines get out is :mod:`tcpchat.delivery`: broadcasts go into one shared
log, and one *fan-out thread* sends each client what it is behind with a
non-blocking send, handing a client to its own writer only when its socket
is full.  So a broadcast costs one append, a busy chat costs one send per
client per batch of lines (not one thread wake-up per client per line), and
a client that stops reading only blocks its own writer until it is dropped.

Observers (see :mod:`tcpchat.events`) are called from one *event thread*
(:mod:`tcpchat.dispatch`), in the order things happened, so a slow observer
never stalls the chat.

Trade-offs: a thread per client (two for one that fell behind) is simple to
read and lets the kernel do the blocking, at the price of one small stack
each; the single lock makes the order total but serialises the (short) work
of parsing commands.
"""

from __future__ import annotations

import contextlib
import logging
import select
import selectors
import socket
import ssl
import threading

from tcpchat import events, protocol
from tcpchat.delivery import Connection, Delivery, start_thread
from tcpchat.dispatch import EventDispatcher
from tcpchat.errors import ChatError, describe, format_address
from tcpchat.gate import Gate, Refused
from tcpchat.guard import AddressCounter, ConnectionGuard, Limits, Verdict
from tcpchat.room import Action, Broadcast, ChatRoom, Close, Joined, Left, Renamed, Reply, Said
from tcpchat.streams import Stream, shutdown, wait_readable

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
SHUTDOWN_NOTICE = protocol.format_notice("server shutting down")


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
        # TLS and the password are checked at the door, before joining: see tcpchat.gate.
        self._gate = Gate(tls=tls, password=password, timeout=self.limits.handshake_seconds)
        self._at_door: set[threading.Thread] = set()  # gate threads still running
        self._per_address = AddressCounter(self.limits.max_connections_per_address)
        self._lock = threading.Lock()
        self._room = ChatRoom(operator_nick=operator_nick)
        self._delivery = Delivery(
            self._lock,
            self._changing,
            lambda connection, reason: self._close(connection, reason, abort=True),
            max_backlog_bytes=self.max_backlog_bytes,
            linger_seconds=self.linger_seconds,
        )
        self._alive: set[Connection] = set()  # threads not yet finished
        self._listener: socket.socket | None = None
        self._wake_accept: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread = threading.Thread()
        self._events = EventDispatcher()
        self._observers = self._events.observers
        self._news: list[events.Event] = []  # for the observers once the lock is free
        self._started = False
        self._stopping = False

    # -- public API --------------------------------------------------------

    def add_observer(self, observer: events.Observer) -> None:
        """Call *observer* (on the event thread) with every event from now on."""
        self._observers.append(observer)

    @property
    def address(self) -> tuple[str, int]:
        """The address actually listened on (the real port when 0 was asked)."""
        if self._listener is None:
            return (self.host, self.port)
        host, port = self._listener.getsockname()[:2]
        return (str(host), int(port))

    def nicks(self) -> list[str]:
        """Everyone online, the operator first."""
        with self._lock:
            return self._room.nicks()

    def start(self) -> None:
        """Listen and start serving; :class:`ChatError` if the address is unusable."""
        if self._started:
            raise RuntimeError("a ChatServer can be started only once")
        where = format_address(self.host, self.port)
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            # create_server sets SO_REUSEADDR on POSIX, so a restart does not
            # wait for the old connections' TIME_WAIT to expire.
            self._listener = socket.create_server(
                (self.host, self.port), family=family, backlog=socket.SOMAXCONN
            )
        except OSError as exc:
            raise ChatError(f"cannot listen on {where}: {describe(exc)}") from exc
        self._started = True
        self._wake_accept = socket.socketpair()
        self._events.start()
        self._delivery.start()
        self._accept_thread = start_thread(self._accept_loop, "tcpchat-accept")
        self._post(events.Listening(*self.address))

    def say(self, text: str) -> None:
        """Chat as the operator (``Server: TEXT`` to everyone)."""
        with self._changing():
            if not self._stopping:
                self._apply(self._room.operator_says(text))

    def stop(self) -> None:
        """Send the shutdown notice, close every connection, join every thread."""
        with self._changing():
            if self._stopping or not self._started:
                return
            self._stopping = True
            self._gate.abort()
            self._apply([Broadcast(SHUTDOWN_NOTICE)])
            for connection in list(self._delivery.connections):
                self._close(connection)
            self._delivery.stop()
        assert self._wake_accept is not None
        assert self._listener is not None
        self._wake_accept[1].send(b"x")
        self._accept_thread.join()
        self._listener.close()
        for sock in self._wake_accept:
            sock.close()
        with self._lock:
            at_door = list(self._at_door)
        for thread in at_door:
            thread.join()
        self._delivery.join()
        for connection in list(self._alive):
            connection.done.wait(self.linger_seconds)
            shutdown(connection.sock, socket.SHUT_RDWR)
            connection.reader.join()
        self._post(events.Stopped())
        self._events.stop()

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
                for key, _ in selector.select():
                    if key.fileobj is self._wake_accept[0]:
                        return
                    try:
                        sock, address = self._listener.accept()
                    except OSError as exc:  # e.g. out of file descriptors
                        self._post(events.Error(f"cannot accept a connection: {describe(exc)}"))
                        self._wait_for_stop(0.1)  # back off instead of spinning
                        continue
                    self._admit(sock, address[0], format_address(*address[:2]))

    def _wait_for_stop(self, seconds: float) -> None:
        assert self._wake_accept is not None
        select.select([self._wake_accept[0]], [], [], seconds)

    def _admit(self, sock: socket.socket, host: str, peer: str) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        refusal = ""
        with self._changing():
            if self._stopping or len(self._room) + len(self._at_door) >= self.max_clients:
                why = "server shutting down" if self._stopping else "server full"
                refusal = f"error: {why} ({self.max_clients} clients); try again later"
                self._emit(events.Notice(f"refused {peer}: {why}"))
            elif not self._per_address.admit(host):
                refusal = self._per_address.refusal(host)
                self._emit(events.Notice(f"refused {peer}: too many connections from {host}"))
            elif self._gate.needed:
                gate = start_thread(self._open, f"tcpchat-gate {peer}", sock, host, peer)
                self._at_door.add(gate)
            else:
                self._join(sock, host, peer)
        if refusal:
            self._refuse(sock, refusal)  # outside the lock: it sends

    def _open(self, sock: socket.socket, host: str, peer: str) -> None:
        """A gate thread: TLS and the password (see :mod:`tcpchat.gate`), then join."""
        stream: Stream | None = None
        try:
            stream, why = self._gate.open(sock), "server stopping"
        except Refused as refusal:
            why = str(refusal)
        with self._changing():
            self._at_door.discard(threading.current_thread())
            if stream is not None and not self._stopping:
                self._join(stream, host, peer)
                return
            self._per_address.release(host)
            self._emit(events.Notice(f"refused {peer}: {why}"))
        if stream is not None:
            stream.close()

    def _join(self, sock: Stream, host: str, peer: str) -> None:
        """Give an admitted connection its nickname and reader (under the lock)."""
        connection = Connection(sock, peer)
        self._delivery.add(connection)
        self._alive.add(connection)
        self._apply(self._room.connect(connection))
        connection.reader = start_thread(
            self._read_loop, f"tcpchat-reader {peer}", connection, host
        )

    def _refuse(self, sock: socket.socket, notice: str) -> None:
        """Tell a turned-away connection why (in plain text only), then close it."""
        if self._gate.tls is None:  # plain text would only garble a TLS handshake
            with contextlib.suppress(OSError):  # it may already be gone: nothing to tell
                sock.settimeout(1.0)
                sock.sendall(protocol.encode_line(protocol.format_notice(notice)))
                sock.shutdown(socket.SHUT_WR)
        sock.close()

    # -- reading -----------------------------------------------------------

    def _read_loop(self, connection: Connection, host: str) -> None:
        buffer = protocol.LineBuffer(self.max_line_bytes)
        guard = ConnectionGuard(self.limits)
        reason = "connection closed"
        try:
            while True:
                # No deadline (None) unless a line is unfinished, or idle time counts.
                timeout = None if connection.closing else guard.seconds_left()
                if timeout is not None and not wait_readable(connection.sock, timeout):
                    expired = guard.expired_reason()
                    if expired is not None:
                        with self._changing():
                            self._expel(connection, expired)
                    continue
                data = connection.sock.recv(self.recv_bytes)
                if not data:
                    break
                if connection.closing:
                    continue  # lingering close: drain and ignore
                frames = buffer.feed(data)
                lines = sum(isinstance(frame, protocol.Line) for frame in frames)
                guard.received(lines, buffer.pending_bytes > 0 or buffer.discarding)
                if frames:
                    with self._changing(sender=connection):
                        self._handle_frames(connection, frames, guard)
        except OSError as exc:
            reason = describe(exc)
        connection.peer_closed.set()
        with self._changing():
            self._close(connection, reason, abort=reason != "connection closed")
        connection.done.wait()  # the writer has said goodbye, if there was one to say
        if connection.writer is not None:
            connection.writer.join()
        connection.sock.close()
        with self._lock:
            self._alive.discard(connection)
            self._per_address.release(host)

    def _handle_frames(
        self, connection: Connection, frames: list[protocol.FrameEvent], guard: ConnectionGuard
    ) -> None:
        for frame in frames:
            if connection not in self._room:
                return  # it quit earlier in this same chunk
            if isinstance(frame, protocol.Line):
                verdict = guard.check_line()
                if verdict is Verdict.PASS:
                    self._apply(self._room.receive(connection, frame.text))
                elif verdict is Verdict.WARN:
                    self._apply([Reply(connection, protocol.format_notice(guard.flood.warning()))])
                    nick = self._room.nick_of(connection)
                    self._emit(events.Notice(f"discarding lines from {nick}: flooding"))
                elif verdict is Verdict.DISCONNECT:
                    self._expel(connection, guard.flood.disconnect_reason())
                continue
            notice = (
                f"error: line too long (over {frame.limit} bytes); it is discarded up to its end"
            )
            self._apply([Reply(connection, protocol.format_notice(notice))])
            nick = self._room.nick_of(connection)
            self._emit(events.Notice(f"discarding an over-long line from {nick}"))

    # -- state changes (all under self._lock) ------------------------------

    def _changing(self, sender: Connection | None = None) -> _Change:
        """``with self._changing():`` holds the lock for a change of state, then delivers.

        The broadcasts made inside go out together (see
        :meth:`tcpchat.delivery.Delivery.publish`, which also says what
        *sender* is for); threads are woken once the lock is released, and
        events go to the observers last, so they never delay delivery.
        """
        return _Change(self, sender)

    def _end_change(self, sender: Connection | None) -> None:
        try:
            handoff = self._delivery.publish(sender)
            news, self._news = self._news, []
        finally:
            self._lock.release()
        self._delivery.hand_off(handoff)
        if news:
            self._events.post(news)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                self._delivery.broadcast(protocol.encode_line(action.line))
            elif isinstance(action, Reply):
                assert isinstance(action.connection, Connection)
                self._delivery.reply(action.connection, protocol.encode_line(action.line))
            elif isinstance(action, Close):
                assert isinstance(action.connection, Connection)
                self._close(action.connection)
            elif not self._observers:
                continue  # the rest only tells observers, and there are none
            elif isinstance(action, Joined):
                assert isinstance(action.connection, Connection)
                self._emit(events.Joined(action.nick, action.connection.peer))
            else:
                self._emit(_to_event(action, self._room))

    def _expel(self, connection: Connection, reason: str) -> None:
        """Tell *connection* why it is being closed, then close it (under the lock)."""
        self._apply([Reply(connection, protocol.format_notice(f"error: {reason}; closing"))])
        self._close(connection, reason)

    def _log_bytes(self) -> int:
        """Bytes the shared log holds now (it stays under ``2 * max_backlog_bytes``)."""
        return self._delivery.log_bytes()

    def _close(self, connection: Connection, reason: str = "quit", abort: bool = False) -> None:
        """Take *connection* out of the room; its writer sends what is left, then hangs up.

        What is left is taken now, so a closing client no longer holds the log.
        With *abort* (a dropped or broken connection) nothing more is sent.
        """
        if connection.closing:
            return
        self._delivery.close(connection, abort)
        if connection in self._room:
            self._apply(self._room.disconnect(connection, reason))

    # -- events ------------------------------------------------------------

    def _emit(self, event: events.Event) -> None:
        """Queue *event* for the observers when the current change is over (under the lock)."""
        if self._observers:
            self._news.append(event)

    def _post(self, event: events.Event) -> None:
        """Hand *event* to the observers now (outside the lock)."""
        self._events.post([event])


class _Change:
    """The context manager behind :meth:`ChatServer._changing`.

    A class rather than ``@contextmanager``: it runs twice per message, and a
    generator costs four times as much.
    """

    __slots__ = ("sender", "server")

    def __init__(self, server: ChatServer, sender: Connection | None) -> None:
        self.server = server
        self.sender = sender

    def __enter__(self) -> None:
        self.server._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.server._end_change(self.sender)


def _to_event(action: Action, room: ChatRoom) -> events.Event:
    if isinstance(action, Said):
        return events.Message(action.nick, action.text, own=action.nick == room.operator_nick)
    if isinstance(action, Left):
        return events.Left(action.nick, action.reason)
    assert isinstance(action, Renamed)
    return events.Renamed(action.old, action.new)


if __name__ == "__main__":  # ``python -m tcpchat.server``: the CLI's entry point
    from tcpchat.cli import main_server

    raise SystemExit(main_server())
