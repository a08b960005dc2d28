"""The threaded chat server core: sockets and threads, no user interface.

Design
------
One *accept thread* admits connections.  Each connection gets a *reader
thread*, which turns bytes into lines (:class:`tcpchat.protocol.LineBuffer`)
and lines into actions (:class:`tcpchat.room.ChatRoom`), and a *writer
thread*, which is the only one that ever sends to that socket.

Fan-out goes through one shared, append-only **log** of encoded lines.  A
reader appends a broadcast to the log once, under the server's lock, and that
append is what fixes the single order every client sees.  Each connection
keeps a *cursor* into the log; its writer wakes, takes everything between its
cursor and the end of the log, and sends it with one ``sendall``.  So:

* a broadcast costs one append, not one copy per client;
* a writer that fell behind catches up in one system call (batching for free);
* a client that stops reading only blocks its own writer.  Its cursor stops
  moving; when the log has grown :attr:`ChatServer.max_backlog_bytes` past it,
  the client is dropped with a notice to the others, and the log is trimmed,
  so memory stays bounded.

Only writers that are asleep are woken (they register in a waiting set before
sleeping), so a burst of messages costs one wake-up per writer, not one per
message per writer.

Replies meant for one client (``/who``, errors) are queued on that client
together with the log position at which they were made, so they interleave
with broadcasts exactly as they happened.

Trade-offs: two threads per client is simple to read and lets the kernel do
the scheduling, at the price of one stack each (kept small, see
:data:`THREAD_STACK_BYTES`); the single lock makes the order total but
serialises the (short) work of parsing commands.

Observers (see :mod:`tcpchat.events`) are called from one *event thread*, in
the order things happened, so a slow observer never stalls the chat.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import selectors
import socket
import threading
import time
from typing import Callable

from tcpchat import events, protocol
from tcpchat.errors import ChatError, describe, format_address
from tcpchat.room import Action, Broadcast, ChatRoom, Close, Joined, Left, Renamed, Reply, Said

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
THREAD_STACK_BYTES = 256 * 1024
"""Stack for each connection thread: enough for this code, small for thousands."""

SHUTDOWN_NOTICE = protocol.format_notice("server shutting down")
_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)  # not on Windows


class _Connection:
    """One client's socket, threads and position in the shared log."""

    __slots__ = (
        *("sock", "peer", "cursor", "private", "leftover", "closing", "final", "abort"),
        *("bell", "peer_closed", "reader", "writer"),
    )

    def __init__(self, sock: socket.socket, peer: str, cursor: int) -> None:
        self.sock = sock
        self.peer = peer
        self.cursor = cursor  # index of the next log entry to send
        self.private: list[tuple[int, bytes]] = []  # (log index it goes before, line)
        self.leftover = b""  # taken from the log but not yet sent
        self.closing = False
        self.final: list[bytes] = []  # what is left to send once closing
        self.abort = False  # closing without flushing (dropped, reset)
        self.bell = threading.Lock()
        """Held while the writer may sleep on it; released ("rung") to wake it."""
        self.bell.acquire()
        self.peer_closed = threading.Event()
        self.reader: threading.Thread
        self.writer: threading.Thread


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
    small_fanout = 4
    """A reader sends a fan-out to this many clients or fewer itself (see _changing)."""
    event_tick_seconds = 0.01
    """The event thread wakes at most this often, then tells the observers everything since."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        operator_nick: str = protocol.OPERATOR_NICK,
        max_clients: int | None = None,
        max_line_bytes: int | None = None,
        max_backlog_bytes: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        if max_clients is not None:
            self.max_clients = max_clients
        if max_line_bytes is not None:
            self.max_line_bytes = max_line_bytes
        if max_backlog_bytes is not None:
            self.max_backlog_bytes = max_backlog_bytes
        self._lock = threading.Lock()
        self._room = ChatRoom(operator_nick=operator_nick)
        self._connections: set[_Connection] = set()  # in the room, cursor tracked
        self._alive: set[_Connection] = set()  # threads not yet finished
        self._idle: set[_Connection] = set()  # caught up, writer asleep: fan-out serves them
        self._to_ring: list[_Connection] = []  # writers' bells to ring once the lock is free
        self._fanout_thread = threading.Thread()
        self._fanout_bell = threading.Lock()
        self._fanout_bell.acquire()
        self._fanout_asleep = False
        self._fanout_due = False  # idle connections have new output
        self._batch: list[bytes] = []  # broadcast lines not yet in the log
        self._log: list[bytes] = []  # each entry: one or more encoded lines
        self._log_offsets: list[int] = []  # byte offset where each entry starts
        self._log_base = 0  # absolute index of self._log[0]
        self._log_end = 0  # absolute byte offset of the end of the log
        self._listener: socket.socket | None = None
        self._wake_accept: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread = threading.Thread()
        self._observers: list[events.Observer] = []
        self._news: list[events.Event] = []  # for the observers once the lock is free
        self._events: queue.SimpleQueue[list[events.Event] | None] = queue.SimpleQueue()
        self._event_thread = threading.Thread()
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
        self._event_thread = _start_thread(self._dispatch_events, "tcpchat-events")
        self._fanout_thread = _start_thread(self._fanout_loop, "tcpchat-fanout")
        self._accept_thread = _start_thread(self._accept_loop, "tcpchat-accept")
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
            self._apply([Broadcast(SHUTDOWN_NOTICE)])
            for connection in list(self._connections):
                self._close(connection)
            self._fanout_due = True  # to see that it is time to stop
        assert self._wake_accept is not None
        assert self._listener is not None
        self._wake_accept[1].send(b"x")
        self._accept_thread.join()
        self._listener.close()
        for sock in self._wake_accept:
            sock.close()
        self._fanout_thread.join()
        for connection in list(self._alive):
            connection.writer.join(self.linger_seconds)
            _shutdown(connection.sock, socket.SHUT_RDWR)
            connection.reader.join()
        self._post(events.Stopped())
        self._events.put(None)
        self._event_thread.join()

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
                    self._admit(sock, format_address(*address[:2]))

    def _wait_for_stop(self, seconds: float) -> None:
        assert self._wake_accept is not None
        select.select([self._wake_accept[0]], [], [], seconds)

    def _admit(self, sock: socket.socket, peer: str) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._changing():
            if self._stopping or len(self._room) >= self.max_clients:
                why = "server shutting down" if self._stopping else "server full"
                self._refuse(sock, f"error: {why} ({self.max_clients} clients); try again later")
                self._emit(events.Notice(f"refused {peer}: {why}"))
                return
            connection = _Connection(sock, peer, self._log_base + len(self._log))
            self._connections.add(connection)
            self._alive.add(connection)
            self._apply(self._room.connect(connection))
            connection.writer = _start_thread(
                self._write_loop, f"tcpchat-writer {peer}", connection
            )
            connection.reader = _start_thread(self._read_loop, f"tcpchat-reader {peer}", connection)

    def _refuse(self, sock: socket.socket, notice: str) -> None:
        try:
            sock.settimeout(1.0)
            sock.sendall(protocol.encode_line(protocol.format_notice(notice)))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sock.close()

    # -- reading -----------------------------------------------------------

    def _read_loop(self, connection: _Connection) -> None:
        buffer = protocol.LineBuffer(self.max_line_bytes)
        reason = "connection closed"
        try:
            while True:
                data = connection.sock.recv(self.recv_bytes)
                if not data:
                    break
                if connection.closing:
                    continue  # lingering close: drain and ignore
                frames = buffer.feed(data)
                if frames:
                    with self._changing(sender=connection):
                        self._handle_frames(connection, frames)
        except OSError as exc:
            reason = describe(exc)
        connection.peer_closed.set()
        with self._changing():
            self._close(connection, reason, abort=reason != "connection closed")
        connection.writer.join()
        connection.sock.close()
        with self._lock:
            self._alive.discard(connection)

    def _handle_frames(self, connection: _Connection, frames: list[protocol.FrameEvent]) -> None:
        for frame in frames:
            if connection not in self._room:
                return  # it quit earlier in this same chunk
            if isinstance(frame, protocol.Line):
                self._apply(self._room.receive(connection, frame.text))
                continue
            notice = (
                f"error: line too long (over {frame.limit} bytes); it is discarded up to its end"
            )
            self._apply([Reply(connection, protocol.format_notice(notice))])
            nick = self._room.nick_of(connection)
            self._emit(events.Notice(f"discarding an over-long line from {nick}"))

    # -- writing -----------------------------------------------------------

    def _fanout_loop(self) -> None:
        """Send new output to the idle connections, without blocking on any of them.

        One thread does what would otherwise wake every writer thread: for
        each connection that is caught up, take what it is behind and send it
        with a non-blocking send.  What does not fit (a slow reader) is handed
        to that connection's writer, which may block on it.
        """
        while True:
            with self._lock:
                claimed = self._claim_idle()
                if not claimed:
                    if self._stopping:
                        return
                    self._fanout_asleep = True
            if not claimed:
                self._fanout_bell.acquire()
                continue
            self._serve(claimed)
            claimed = []

    def _serve(self, claimed: list[tuple[_Connection, bytes]]) -> None:
        """Send claimed output without blocking; then release the connections."""
        results = [(c, *_send_some(c.sock, data)) for c, data in claimed]
        with self._changing():
            for connection, leftover, error in results:
                self._release(connection, leftover, error)

    def _claim_idle(self, first: _Connection | None = None) -> list[tuple[_Connection, bytes]]:
        """Take the output of every idle connection that has some (under the lock).

        Connections at the same cursor share one joined copy of the log.  The
        *first* connection, if claimed, comes first.
        """
        self._fanout_due = False
        end = self._log_base + len(self._log)
        shared: dict[int, bytes] = {}
        claimed: list[tuple[_Connection, bytes]] = []
        for connection in self._idle:
            if connection.private:
                claimed.append((connection, b"".join(self._take_output(connection))))
            elif connection.cursor < end:
                cursor = connection.cursor
                if cursor not in shared:
                    shared[cursor] = b"".join(self._log[cursor - self._log_base :])
                connection.cursor = end
                claimed.append((connection, shared[cursor]))
        for connection, _ in claimed:
            self._idle.discard(connection)
        if first is not None:
            claimed.sort(key=lambda item: item[0] is not first)  # stable: the rest keep order
        return claimed

    def _release(self, connection: _Connection, leftover: bytes, error: OSError | None) -> None:
        """After the fan-out: idle again, or over to its writer (a backlog, or closing)."""
        if error is not None:
            self._close(connection, describe(error), abort=True)
        connection.leftover = leftover
        if leftover or connection.closing:
            self._to_ring.append(connection)
        else:
            self._idle.add(connection)
            if connection.private or connection.cursor < self._log_base + len(self._log):
                self._fanout_due = True  # it got more while being served

    def _write_loop(self, connection: _Connection) -> None:
        graceful = True
        try:
            while True:
                chunks, finished = self._next_output(connection)
                if chunks:
                    connection.sock.sendall(b"".join(chunks))
                    chunks = []  # do not hold on to it while asleep
                if finished:
                    graceful = not connection.abort
                    return
        except OSError as exc:
            graceful = False
            with self._changing():
                self._close(connection, describe(exc), abort=True)
        finally:
            if graceful:
                # Half-close, then give the peer a moment to close its side,
                # so unread input does not turn our close into a reset.
                _shutdown(connection.sock, socket.SHUT_WR)
                connection.peer_closed.wait(self.linger_seconds)
            _shutdown(connection.sock, socket.SHUT_RDWR)

    def _next_output(self, connection: _Connection) -> tuple[list[bytes], bool]:
        """Sleep until *connection* has a backlog or is closing; take the output.

        Returns what to send and whether the connection is finished.  A writer
        with nothing to send makes its connection idle (the fan-out thread
        serves it from then on) and sleeps on its bell, outside the lock.
        """
        while True:
            with self._lock:
                if connection.closing:
                    return [connection.leftover, *connection.final], True
                chunks = self._take_output(connection)
                if chunks:
                    return chunks, False
                self._idle.add(connection)
            connection.bell.acquire()

    def _take_output(self, connection: _Connection) -> list[bytes]:
        """Everything *connection* is behind, private replies in their place."""
        chunks = [connection.leftover] if connection.leftover else []
        connection.leftover = b""
        cursor = connection.cursor
        base = self._log_base
        for position, line in connection.private:
            chunks.extend(self._log[cursor - base : position - base])
            chunks.append(line)
            cursor = position
        connection.private.clear()
        chunks.extend(self._log[cursor - base :])
        connection.cursor = base + len(self._log)
        return chunks

    # -- state changes (all under self._lock) ------------------------------

    def _changing(self, sender: _Connection | None = None) -> _Change:
        """``with self._changing():`` holds the lock for a change of state, then delivers.

        The broadcasts made inside go into the log as one entry.  Writers and
        the fan-out thread are woken only after the lock is released: woken
        while it is held, they would at once have to wait for it (a lock
        convoy).  When a reader changes the state for its *sender*, a fan-out
        to at most :attr:`small_fanout` clients is sent by the reader itself,
        the sender first: that saves a thread switch on the way and makes a
        small chat snappy.  Events go to the observers last, so they never
        delay delivery.
        """
        return _Change(self, sender)

    def _end_change(self, sender: _Connection | None) -> None:
        claimed: list[tuple[_Connection, bytes]] = []
        try:
            self._flush_batch()
            if self._log_bytes() > 2 * self.max_backlog_bytes:
                self._trim()
            to_ring, self._to_ring = self._to_ring, []
            news, self._news = self._news, []
            ring_fanout = self._fanout_due and self._fanout_asleep
            if ring_fanout and sender and len(self._idle) <= self.small_fanout:
                claimed, ring_fanout = self._claim_idle(first=sender), False
            elif ring_fanout:
                self._fanout_asleep = False
        finally:
            self._lock.release()
        for connection in to_ring:
            connection.bell.release()
        if ring_fanout:
            self._fanout_bell.release()
        if claimed:
            self._serve(claimed)
        if news:
            self._events.put(news)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Broadcast):
                self._batch.append(protocol.encode_line(action.line))
            elif isinstance(action, Reply):
                target = action.connection
                assert isinstance(target, _Connection)
                self._flush_batch()  # the reply goes after the broadcasts before it
                line = protocol.encode_line(action.line)
                target.private.append((self._log_base + len(self._log), line))
                self._wake(target)
            elif isinstance(action, Close):
                assert isinstance(action.connection, _Connection)
                self._close(action.connection)
            elif not self._observers:
                continue  # the rest only tells observers, and there are none
            elif isinstance(action, Joined):
                assert isinstance(action.connection, _Connection)
                self._emit(events.Joined(action.nick, action.connection.peer))
            else:
                self._emit(_to_event(action, self._room))

    def _wake(self, connection: _Connection) -> None:
        """*connection* has output: have it served when the lock is released."""
        if connection in self._idle:
            self._fanout_due = True

    def _flush_batch(self) -> None:
        """Append the pending broadcasts to the log as one entry."""
        if not self._batch:
            return
        entry = b"".join(self._batch)
        self._batch.clear()
        self._log.append(entry)
        self._log_offsets.append(self._log_end)
        self._log_end += len(entry)
        if self._idle:
            self._fanout_due = True

    def _log_bytes(self) -> int:
        return self._log_end - self._offset_of(self._log_base)

    def _offset_of(self, cursor: int) -> int:
        """Byte offset of the log entry at absolute index *cursor*."""
        index = cursor - self._log_base
        return self._log_offsets[index] if index < len(self._log) else self._log_end

    def _trim(self) -> None:
        """Drop clients more than max_backlog_bytes behind, then free the log."""
        for connection in list(self._connections):
            behind = self._log_end - self._offset_of(connection.cursor)
            if behind > self.max_backlog_bytes:
                self._close(connection, f"too slow: fell {behind} bytes behind", abort=True)
                _shutdown(connection.sock, socket.SHUT_RDWR)  # unblock its writer
        self._flush_batch()  # the notices of those drops
        keep_from = min(
            (c.cursor for c in self._connections), default=self._log_base + len(self._log)
        )
        del self._log[: keep_from - self._log_base]
        del self._log_offsets[: keep_from - self._log_base]
        self._log_base = keep_from

    def _close(self, connection: _Connection, reason: str = "quit", abort: bool = False) -> None:
        """Take *connection* out of the room; its writer sends what is left, then hangs up.

        What is left is taken now, so a closing client no longer holds the log.
        With *abort* (a dropped or broken connection) nothing more is sent.
        """
        if connection.closing:
            return
        self._flush_batch()  # so what is left includes every broadcast so far
        connection.closing = True
        connection.abort = abort
        self._connections.discard(connection)
        if not abort:
            connection.final = self._take_output(connection)
        if connection in self._idle:  # its writer sleeps: wake it to hang up
            self._idle.discard(connection)
            self._to_ring.append(connection)
        if connection in self._room:
            self._apply(self._room.disconnect(connection, reason))

    # -- events ------------------------------------------------------------

    def _emit(self, event: events.Event) -> None:
        """Queue *event* for the observers when the current change is over (under the lock)."""
        if self._observers:
            self._news.append(event)

    def _post(self, event: events.Event) -> None:
        """Hand *event* to the observers now (outside the lock)."""
        self._events.put([event])

    def _dispatch_events(self) -> None:
        """Call the observers, waking at most once per :attr:`event_tick_seconds`.

        A thread wake-up costs more than printing a line, so under load the
        observers get events in batches rather than the thread waking for each.
        """
        while True:
            batches = [self._events.get()]
            time.sleep(self.event_tick_seconds)  # let more gather
            with contextlib.suppress(queue.Empty):
                while batches[-1] is not None:
                    batches.append(self._events.get_nowait())
            for news in batches:
                if news is None:
                    return
                for event in news:
                    self._notify(event)

    def _notify(self, event: events.Event) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception:  # an observer's bug must not stop the server
                log.exception("observer %r failed on %r", observer, event)


class _Change:
    """The context manager behind :meth:`ChatServer._changing`.

    A class rather than ``@contextmanager``: it runs twice per message, and a
    generator costs four times as much.
    """

    __slots__ = ("sender", "server")

    def __init__(self, server: ChatServer, sender: _Connection | None) -> None:
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


def _send_some(sock: socket.socket, data: bytes) -> tuple[bytes, OSError | None]:
    """Send what fits in *sock*'s buffer now; return what is left, and any error.

    Only a plain socket on a system with ``MSG_DONTWAIT`` can be asked not to
    block for one call; anything else (Windows, a TLS socket) leaves all of
    *data* to the connection's writer thread.
    """
    if not _DONTWAIT or type(sock) is not socket.socket:
        return data, None
    try:
        sent = sock.send(data, _DONTWAIT)
    except BlockingIOError:
        return data, None
    except OSError as exc:
        return b"", exc
    return data[sent:], None


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected: nothing left to shut
        sock.shutdown(how)


def _start_thread(target: Callable[..., None], name: str, *args: object) -> threading.Thread:
    previous = threading.stack_size(THREAD_STACK_BYTES)
    try:
        thread = threading.Thread(target=target, name=name, args=args)
        thread.start()
    finally:
        threading.stack_size(previous)
    return thread


if __name__ == "__main__":  # ``python -m tcpchat.server``: the CLI's entry point
    from tcpchat.cli import main_server

    raise SystemExit(main_server())
