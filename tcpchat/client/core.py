"""The chat client core: one connection at a time, two threads, no user interface.

:meth:`ChatClient.connect` opens the connection (with a timeout) and starts a
*reader thread*, which frames incoming bytes into lines and reports them as
events, and a *writer thread*, which sends what :meth:`ChatClient.send` queued.
``send()`` therefore never blocks its caller (a window's event loop, say) even
when the server is slow to read; the queue is bounded, and a full queue is an
error the caller can show.  Losing the server is a
:class:`~tcpchat.events.Disconnected` event, never an exception escaping a
thread.  :meth:`ChatClient.close` says ``/quit``, waits at most
``close_timeout`` for the server to take it and hang up, then shuts the
socket down (waking a writer stuck on a server that stopped reading) and
joins both threads, so closing a window never freezes it.

A line from the server longer than this client accepts is dropped, and the
user is told so once, with the limit and why; how many were dropped in all
is told when the connection ends.

With a :class:`ssl.SSLContext` the connection is TLS (see :mod:`tcpchat.tls`),
read and written through a :class:`~tcpchat.streams.TLSStream` because two
threads share it.  With a password, ``/pass PASSWORD`` is the first line sent.

The client speaks *sessions* (``docs/protocol.md``): its first line (after
any ``/pass``) is ``/hello [NICK]``, or ``/resume …`` when it was given, with
:meth:`ChatClient.use_session`, the :class:`~tcpchat.session.Session` of an
earlier connection.  Lines from the server are accounted for by a
:class:`~tcpchat.client.resume.Resumer` (replies lose their ``~``; log lines
advance the position); until the replay of a resume is over, and while not
connected, :meth:`ChatClient.send` holds typed lines in the session (it
returns False: the front end shows them as pending) instead of sending them.

Given several servers (``servers=``), the client *fails over*: when the
connection drops without this end asking, the reader thread connects to the
next server (:mod:`tcpchat.client.servers`) at once and resumes the session
there (a new :class:`Resumer` and writer thread), reporting a new
:class:`~tcpchat.events.Connected` instead of a ``Disconnected``; only a round
in which no server answered ends in ``Disconnected``, for the front end's
back-off.  Each connection has a *generation*: a line accounted for on one
is never queued on the next (it is held for that one's resume instead), so
the end of the replay alone decides what is sent again.

Observers are isolated from the reader: one that raises is logged (with its
traceback, once per observer and kind of event) and the reader goes on, so
the others, and the final :class:`~tcpchat.events.Disconnected`, still arrive.
What a server line means is :mod:`tcpchat.client.incoming`'s business.
"""

from __future__ import annotations

import collections
import logging
import socket
import ssl
import threading
import time
from typing import Sequence

from tcpchat import events, protocol
from tcpchat.client.incoming import Incoming, read_lines
from tcpchat.client.resume import SESSION_LOCK, Resumer
from tcpchat.client.servers import Address, ServerRound
from tcpchat.errors import ChatError, format_address
from tcpchat.session import Session, expected_echo
from tcpchat.streams import Stream, shutdown

log = logging.getLogger(__name__)


class ChatClient:
    """A connection to a chat server at *host*:*port*, or to one of *servers* in turn."""

    connect_timeout = 5.0
    close_timeout = 2.0
    """How long ``close()`` waits for the server to take ``/quit`` and hang up."""
    max_queued_bytes = 1024 * 1024
    """How much unsent text ``send()`` will hold before refusing more."""
    max_line_bytes = protocol.MAX_LINE_BYTES
    recv_bytes = 65536

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        servers: Sequence[Address] = (),
        nick: str | None = None,
        tls: ssl.SSLContext | None = None,
        password: str | None = None,
    ) -> None:
        if servers and (host is not None or port is not None):
            raise ValueError("give a ChatClient host and port, or servers, not both")
        if not servers:
            if host is None or port is None:
                raise ValueError("a ChatClient needs host and port, or servers")
            servers = [(host, port)]
        self.servers = ServerRound(servers)
        """The servers to try, and which of them this round has left."""
        self.host, self.port = self.servers.current
        """The server connected to (or tried first)."""
        self.requested_nick = nick
        self.tls = tls
        self.password = password
        self._incoming = Incoming()  # what the server said about this end
        self._sock: Stream | None = None
        self._observers: list[events.Observer] = []
        self._failed: set[tuple[int, type]] = set()  # (observer, event type) reported
        self._lock = threading.Lock()
        self._has_output = threading.Condition(self._lock)
        self._has_room = threading.Condition(self._lock)  # the writer emptied the outbox
        self._outbox: collections.deque[bytes] = collections.deque()
        self._queued_bytes = 0
        self._closing = False  # no more sending: /quit queued or connection lost
        self._closed = False  # close() has been called
        self._quit_sent = False  # the user typed /quit: the hang-up is expected
        self._connected = False
        self._lost = False  # the connection ended without this end asking
        self._reader = threading.Thread()
        self._writer = threading.Thread()
        self._generation = 0  # of the connection: one more at each drop and each new one
        self.session = Session(nick=nick)
        """This client's place in the room; shared across reconnections with use_session()."""
        self._resumer = Resumer(self.session, self._send_held)
        # A session the caller resumes, or failover: lines are held while away, not refused.
        self._keeps_session = self.servers.fails_over

    def use_session(self, session: Session) -> None:
        """Go on with *session* (from an earlier connection) instead of starting a new one.

        Before :meth:`connect`.  The nickname asked for is the session's, if it has one.
        """
        if self._sock is not None:
            raise RuntimeError("use_session() comes before connect()")
        with SESSION_LOCK:
            if session.nick is None:
                session.nick = self.requested_nick
        self.session = session
        self._keeps_session = True  # the caller will resume it: hold lines while away
        self._resumer = Resumer(session, self._send_held)

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def nick(self) -> str:
        """This end's nickname, as the server last confirmed it."""
        return self._incoming.nick

    @property
    def refusal(self) -> str:
        """The server's final refusal (wrong password, TLS only), if it sent one."""
        return self._incoming.refusal

    def add_observer(self, observer: events.Observer) -> None:
        """Call *observer* (on the reader thread) with every event from now on."""
        self._observers.append(observer)

    def connect(self) -> None:
        """Connect and start the threads; :class:`ChatError` if no server answers."""
        if self._sock is not None:
            raise RuntimeError("a ChatClient connects only once; make a new one")
        stream, failures = self.servers.open_next(self.connect_timeout, self.tls, self._is_closed)
        if stream is None:
            raise ChatError("; ".join(failures))
        self._start(stream)
        self._reader = threading.Thread(target=self._read_loop, name="tcpchat-client-reader")
        self._reader.start()

    def _is_closed(self) -> bool:
        with self._lock:
            return self._closed

    def _start(self, stream: Stream) -> bool:
        """Make *stream* the connection: first lines, writer, ``Connected``; False if closed."""
        resumer = Resumer(self.session, self._send_held)
        first = [f"/pass {self.password}"] if self.password is not None else []
        first.append(resumer.first_line())  # after /pass: the server asks before anything else
        with SESSION_LOCK:
            self._resumer = resumer
        writer = threading.Thread(
            target=self._write_loop, args=(stream,), name="tcpchat-client-writer"
        )
        with self._lock:
            if self._closed:  # close() came while we connected: it waits for nothing more
                stream.close()
                return False
            self._sock = stream
            self.host, self.port = self.servers.current
            self._generation += 1
            self._closing = False
            self._incoming.new_connection()
            self._connected = True
            self._outbox.clear()
            self._outbox.extend(protocol.encode_line(line) for line in first)
            self._queued_bytes = sum(len(line) for line in self._outbox)
            self._writer = writer
            writer.start()
        self._emit(events.Connected(self.host, self.port))
        resumer.opened()
        return True

    def send(self, text: str, *, wait: bool = False) -> bool:
        """Queue *text* (one line per line of it) for the server; False if it was held.

        Held: not connected (or a resume's replay is not over yet), so the
        lines wait in the session and go out after the next resume; the
        front end shows them as pending.  Past the session's bound they are
        refused (:class:`ChatError`, with the limit).

        Raises :class:`ChatError` when not connected or when a line is longer
        than the server accepts.  When ``max_queued_bytes`` are already waiting
        (the server reads slower than we write), *wait* decides: ``True`` holds
        the caller until the writer has room (backpressure: the terminal
        client's stdin reader, so a piped file is paced, never cut), ``False``
        refuses with :class:`ChatError` (a window's Tk thread must not block).
        """
        lines = [protocol.encode_line(line.rstrip("\r")) for line in text.split("\n")]
        for line in lines:
            if len(line) - 1 > self.max_line_bytes:
                raise ChatError(
                    f"message too long ({len(line) - 1} bytes, at most "
                    f"{self.max_line_bytes}); not sent"
                )
        texts = [line[:-1].decode(protocol.ENCODING) for line in lines]
        if self._closed and not self._lost:  # closed on purpose: the session is over
            raise ChatError(f"not connected to {self.address}; message not sent")
        with SESSION_LOCK:
            if not self._resumer.ready:
                if not self._keeps_session and not self._connected:
                    raise ChatError(f"not connected to {self.address}; message not sent")
                self._resumer.hold(texts)
                return False
            for text_line in texts:
                self.session.sent(text_line)
            generation = self._generation  # the connection these lines were accounted on
        try:
            self._enqueue(lines, wait, generation)
        except _NotConnected:
            # Lost under us: the chat lines are unacknowledged, so they go again
            # after the resume; the commands wait with the pending lines.
            if not self._keeps_session:
                raise
            with SESSION_LOCK:
                commands = [line for line in texts if expected_echo(line) is None]
                self._resumer.hold(commands)
            self._resumer.send_held()  # failed over and resumed already: not held till the next
            return False
        return True

    def send_held(self) -> None:
        """If resumed, send what a previous client held meanwhile (:meth:`Resumer.send_held`)."""
        self._resumer.send_held()

    def _send_held(self, texts: list[str]) -> None:
        """Queue lines without waiting: the first line, and those held for the resume."""
        lines = [protocol.encode_line(text) for text in texts]
        with self._lock:
            self._outbox.extend(lines)
            self._quit_sent |= any(_is_quit(line) for line in lines)
            self._queued_bytes += sum(len(line) for line in lines)
            self._has_output.notify()

    def _enqueue(self, lines: list[bytes], wait: bool, generation: int) -> None:
        with self._lock:
            if not self._connected or self._closing or self._generation != generation:
                raise _NotConnected(f"not connected to {self.address}; message not sent")
            size = sum(len(line) for line in lines)
            while self._queued_bytes and self._queued_bytes + size > self.max_queued_bytes:
                if not wait:
                    raise ChatError("the server is not reading; message not sent")
                self._has_room.wait()
                if not self._connected or self._closing or self._generation != generation:
                    raise _NotConnected(f"not connected to {self.address}; message not sent")
            self._outbox.extend(lines)
            self._quit_sent |= any(_is_quit(line) for line in lines)
            self._queued_bytes += size
            self._has_output.notify()

    def close(self) -> None:
        """Say ``/quit``, wait for the server to hang up, join the threads."""
        with self._lock:
            if self._sock is None or self._closed:
                return
            self._closed = True
            if self._connected and not self._closing:
                self._outbox.append(protocol.encode_line("/quit"))
            self._closing = True
            self._has_output.notify()
            self._has_room.notify_all()
        deadline = time.monotonic() + self.close_timeout
        self._writer.join(self.close_timeout)
        # A reader failing over tries no server after this, and starts no connection.
        self._reader.join(max(0.0, deadline - time.monotonic()))
        # Wake a writer stuck on a server that stopped reading, and the reader
        # if the server lingers.
        with self._lock:
            stream = self._sock
        shutdown(stream, socket.SHUT_RDWR)
        self._writer.join()
        self._reader.join()
        stream.close()

    # -- threads -----------------------------------------------------------

    def _write_loop(self, stream: Stream) -> None:
        try:
            while True:
                with self._lock:
                    while not self._outbox and not self._closing:
                        self._has_output.wait()
                    data = b"".join(self._outbox)
                    self._outbox.clear()
                    self._queued_bytes = 0
                    self._has_room.notify_all()
                    finished = self._closing
                if data and self._connected:
                    stream.sendall(data)
                if finished:
                    break
        except OSError:
            pass  # the reader sees the same failure and reports it
        shutdown(stream, socket.SHUT_WR)

    def _read_loop(self) -> None:
        """Read each connection in turn (one, unless failing over), then report the end."""
        while True:
            stream = self._sock
            assert stream is not None
            reason = read_lines(stream, self.recv_bytes, self._take, self._emit)
            self._resumer.lost()
            with self._lock:
                self._connected = False
                self._generation += 1  # what send() accounted on this one is held, not queued
                self._closing = True
                self._has_output.notify()
                self._has_room.notify_all()
                expected = self._closed or self._quit_sent
            lost_at = self.address
            failures: list[str] = []
            if not expected and not self.refusal and self.servers.fails_over:
                failed = self._fail_over(stream)
                if failed is None:
                    continue  # on the next server, resuming: read it
                failures = failed
            break
        self._end(reason, lost_at, failures)

    def _fail_over(self, lost: Stream) -> list[str] | None:
        """Resume on the next server of the round that answers: None, or who failed how.

        At once, with no back-off: that is the front end's, once a whole
        round failed (:mod:`tcpchat.client.servers`).
        """
        shutdown(lost, socket.SHUT_RDWR)  # wakes a writer stuck sending to the lost server
        self._writer.join()
        lost.close()
        if self._resumer.settled:  # it made it into the room: a new round, from the next
            self.servers.restart_after_current()
        stream, failures = self.servers.open_next(self.connect_timeout, self.tls, self._is_closed)
        if stream is not None and self._start(stream):
            return None
        return failures

    def _end(self, reason: str, address: str, failures: list[str]) -> None:
        """Report the end of the last connection (and of a failed round, after it)."""
        with self._lock:
            expected = self._closed or self._quit_sent
            self._lost = not expected
        reason = f"{'closed' if expected else self._incoming.end_reason(reason)} ({address})"
        if failures and not expected:
            reason += "; then " + "; ".join(failures)
        announced = self._incoming.shutdown_announced and not expected
        self._emit(events.Disconnected(reason, expected=expected, announced=announced))

    def _take(self, text: str) -> None:
        taken = self._resumer.take(text)
        if not taken.hidden:
            self._emit(self._incoming.event(taken.text, taken.history))
        if taken.resumed is not None:
            self._emit(taken.resumed)

    def _emit(self, event: events.Event) -> None:
        """Tell every observer; one that raises is reported and skipped, not fatal."""
        for observer in self._observers:
            try:
                observer(event)
            except Exception:  # an observer's bug must not stop the reader
                key = (id(observer), type(event))
                if key not in self._failed:
                    self._failed.add(key)
                    log.exception("client observer %r failed on %r", observer, event)


class _NotConnected(ChatError):
    """The connection is gone (a session holds the line instead of refusing it)."""


def _is_quit(line: bytes) -> bool:
    return isinstance(protocol.parse_command(protocol.decode_line(line[:-1])), protocol.Quit)
