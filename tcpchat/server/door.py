"""The door a connection passes before it joins the room: every refusal, one seat count.

:class:`Door` decides on each accepted connection, in one place: a server
stopping or full (the seats are the room's members plus those still at the
door, counted here only), an address holding too many connections
(:class:`tcpchat.guard.Sources`), then, on a thread of its own, a wait if
the address opens connections faster than its join rate, TLS and the
password (:class:`Gate`).  Refusals are told to the peer outside the
server's lock, since telling may wait on the network.

Joins are *paced*, not refused: a newcomer from an address over
``Limits.joins_per_second`` waits at the door (holding a seat and counting
against its address's connection limit, so the waiting is bounded) until
its turn.  That bounds the join and leave notices a connect-and-close loop
can push to everyone, and, with the per-address line budget that survives
reconnecting, the lines it can push too.

A server started with ``--tls-cert`` or ``--password`` runs :meth:`Gate.open`
on each new connection before the connection gets a nickname or a place in
the chat log.  So nothing said in the room can reach a connection still at
the door, and a refusal tells it only why it was refused.
What ``nc`` or ``openssl s_client`` sees::

    (TLS handshake, with --tls-cert)
    * password required: send /pass PASSWORD         (with --password)
    /pass SECRET
    * password accepted                              or: * error: wrong password; closing
    * welcome, you are Client; type /help for the commands

Every step must be done by one deadline (``Limits.handshake_seconds``), so a
peer that connects and stalls (slowloris) holds a seat only that long.  A
wrong password is answered only after :attr:`Gate.wrong_password_delay`,
which, with the per-address connection limit, caps how fast anyone can guess.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import socket
import ssl
import threading
import time
from typing import Callable, Iterator, NoReturn

from tcpchat import events, protocol
from tcpchat.errors import describe
from tcpchat.guard import Limits, Sources
from tcpchat.server.changes import Changes
from tcpchat.streams import Stream, TLSStream, shutdown, wait_readable
from tcpchat.threads import start_thread
from tcpchat.tls import TLS_HANDSHAKE_RECORD, describe_tls_error

Enter = Callable[[Stream, str, str], None]
"""Seat an admitted connection (stream, host, peer) in the room, inside a change."""


class Door:
    """Admission for the server: ``admit()`` each accepted socket (accept thread).

    *enter* seats a connection that got through (inside a change);
    :meth:`leave` gives its seat back when it has gone.
    """

    refusal_timeout = 1.0
    """How long telling a refused connection why may take."""

    def __init__(
        self, changes: Changes, enter: Enter, *, max_clients: int, per_address: int, gate: Gate
    ) -> None:
        self.max_clients = max_clients
        self.gate = gate
        self._changes = changes
        self._enter = enter
        self.sources = Sources(Limits(max_connections_per_address=per_address))
        """Connections and budgets per source address (shared with the readers)."""
        self._at_door: set[threading.Thread] = set()  # gate threads still running
        self.greeting: set[object] = set()
        """Seated connections whose first line is awaited (not yet in the room)."""

    def use_limits(self, limits: Limits) -> None:
        """Apply the server's per-address *limits* (before the server starts)."""
        self.sources = Sources(limits)

    def seats_taken(self) -> int:
        """The one seat count: everyone in the room and everyone at the door (in a change)."""
        return len(self._changes.room) + len(self._at_door) + len(self.greeting)

    def admit(self, sock: socket.socket, host: str, peer: str) -> None:
        """Seat *sock* from *host*, send it through the gate, or refuse it and say why."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        refusal = ""
        with self._changes():
            if self._changes.stopping:
                refusal, why = (
                    protocol.STOPPING.format(limit=self.max_clients),
                    "server shutting down",
                )
            elif self.seats_taken() >= self.max_clients:
                refusal, why = protocol.SERVER_FULL.format(limit=self.max_clients), "server full"
            elif not self.sources.admit(host):
                refusal = self.sources.connections.refusal(host)
                why = f"too many connections from {host}"
            elif (wait := self.sources.join_wait(host)) > 0 or self.gate.needed:
                name = f"tcpchat-gate {peer}"
                try:
                    thread = start_thread(self._open, name, sock, host, peer, wait)
                except RuntimeError:  # "can't start new thread": give the seat back
                    self.sources.release(host)
                    raise
                self._at_door.add(thread)
            else:
                self._enter(sock, host, peer)
            if refusal:
                self._changes.emit(events.Notice(f"refused {peer}: {why}"))
        if refusal:
            self._refuse(sock, refusal)  # outside the lock: it sends

    def leave(self, host: str) -> None:
        """A seated connection from *host* has gone (in a change)."""
        self.sources.release(host)

    def stop(self) -> None:
        """Refuse everyone at the door now and from now on (in a change)."""
        self.gate.abort()

    def join(self) -> None:
        """Wait for the gate threads (after :meth:`stop`, outside a change)."""
        with self._changes.lock:
            at_door = list(self._at_door)
        for thread in at_door:
            thread.join()

    def _open(self, sock: socket.socket, host: str, peer: str, wait: float) -> None:
        """A gate thread: wait for its join turn, TLS and the password, then join."""
        stream: Stream | None = None
        try:
            if wait > 0:
                self.gate.pause(wait)
            stream, why = self.gate.open(sock), "server stopping"
        except Refused as refusal:
            why = str(refusal)
        with self._changes():
            self._at_door.discard(threading.current_thread())
            if stream is not None and not self._changes.stopping:
                self._enter(stream, host, peer)
                return
            self.sources.release(host)
            self._changes.emit(events.Notice(f"refused {peer}: {why}"))
        if stream is not None:
            stream.close()

    def _refuse(self, sock: socket.socket, notice: str) -> None:
        """Tell a turned-away connection why (in plain text only), then close it."""
        if self.gate.tls is None:  # plain text would only garble a TLS handshake
            with contextlib.suppress(OSError):  # it may already be gone: nothing to tell
                sock.settimeout(self.refusal_timeout)
                _send_notice(sock, notice)
                sock.shutdown(socket.SHUT_WR)
        sock.close()


class Refused(Exception):
    """The connection was turned away (told why, where it could be); the text is for the log."""


def password_refusal(line: str, password: str) -> str | None:
    """The notice refusing the first *line*, or None if it carries *password*."""
    command = protocol.parse_command(line)
    if not isinstance(command, protocol.Pass):
        return protocol.PASSWORD_MISSING
    if not _same_secret(command.secret, password):
        return protocol.PASSWORD_WRONG
    return None


def _same_secret(given: str, expected: str) -> bool:
    """Compare in constant time; hashing first hides the length as well."""
    digests = (hashlib.sha256(text.encode()).digest() for text in (given, expected))
    return hmac.compare_digest(*digests)


class Gate:
    """TLS and password checks for new connections; ``open()`` each, ``abort()`` to stop."""

    max_password_line_bytes = 1024
    wrong_password_delay = 1.0
    """Seconds before a wrong password is answered (and the seat given back)."""
    linger_seconds = 1.0
    """After a refusal, how long to let the peer read it before closing."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tls = tls
        self.password = password
        self.timeout = timeout
        """Seconds for the whole exchange; 0 for no deadline."""
        self._clock = clock
        self._lock = threading.Lock()
        self._opening: dict[int, Stream] = {}  # what abort() must wake
        self._ids = itertools.count()
        self._aborted = threading.Event()

    @property
    def needed(self) -> bool:
        """False when there is nothing to check: connections join straight away."""
        return self.tls is not None or self.password is not None

    def __len__(self) -> int:
        """Connections at the door right now (they hold seats too)."""
        with self._lock:
            return len(self._opening)

    def open(self, sock: socket.socket) -> Stream:
        """Take *sock* through the door: the stream to chat on, or :class:`Refused`.

        Blocks for at most :attr:`timeout` seconds (plus the delays above).
        On refusal the peer has been told why and the socket is closed.
        """
        deadline = self._clock() + self.timeout if self.timeout else None
        with self._tracked(sock) as track:
            stream: Stream = sock
            if self.tls is not None:
                stream = self._handshake(sock, self.tls, deadline, track)
            if self.password is not None:
                self._ask_password(stream, self.password, deadline)
            return stream

    def pause(self, seconds: float) -> None:
        """Wait *seconds* (a newcomer's join turn), or less if the server is stopping."""
        self._aborted.wait(seconds)

    def abort(self) -> None:
        """Refuse everyone at the door now and from now on (the server is stopping)."""
        self._aborted.set()
        with self._lock:
            for stream in self._opening.values():
                if isinstance(stream, ssl.SSLSocket):
                    # Mid-handshake: SSLSocket.shutdown() would drop the TLS state
                    # under the handshaking thread; the plain socket's wakes it.
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(stream, socket.SHUT_RDWR)
                else:
                    shutdown(stream)

    # -- steps ---------------------------------------------------------------

    def _handshake(
        self,
        sock: socket.socket,
        tls: ssl.SSLContext,
        deadline: float | None,
        track: Callable[[Stream], None],
    ) -> Stream:
        if not wait_readable(sock, self._left(deadline)):
            self._refuse(sock, protocol.TLS_REQUIRED, "sent no TLS handshake in time")
        first = sock.recv(1, socket.MSG_PEEK)
        if not first:
            self._refuse(sock, None, "closed before the TLS handshake")
        if first[0] != TLS_HANDSHAKE_RECORD:
            # Plain text on a TLS port: answer in plain text, which it can read.
            self._refuse(sock, protocol.TLS_REQUIRED, "spoke plain text to the TLS server")
        tls_sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        # wrap_socket() took sock's file descriptor (sock is now closed): from here
        # abort() must shut the TLS socket down, or it could not wake the handshake.
        track(tls_sock)
        try:
            tls_sock.settimeout(self._left(deadline))
            tls_sock.do_handshake()
        except (OSError, ValueError) as exc:
            tls_sock.close()
            raise Refused(describe_tls_error(exc)) from None
        stream = TLSStream(tls_sock)
        track(stream)
        return stream

    def _ask_password(self, stream: Stream, password: str, deadline: float | None) -> None:
        _send_notice(stream, protocol.PASSWORD_PROMPT)
        line = ""
        while not line.strip():  # blank lines before /pass are ignored, as in the room
            line = self._read_line(stream, deadline)
        refusal = password_refusal(line, password)
        if refusal == protocol.PASSWORD_WRONG:
            self._aborted.wait(self.wrong_password_delay)
            self._refuse(stream, refusal, "wrong password")
        if refusal is not None:
            self._refuse(stream, refusal, "did not send /pass first")
        _send_notice(stream, protocol.PASSWORD_ACCEPTED)

    def _read_line(self, stream: Stream, deadline: float | None) -> str:
        """One line, a byte at a time, so nothing after it is taken from the room's reader."""
        raw = bytearray()
        while len(raw) <= self.max_password_line_bytes:
            if not wait_readable(stream, self._left(deadline)):
                self._refuse(stream, protocol.PASSWORD_MISSING, "sent no password in time")
            byte = stream.recv(1)
            if not byte:
                self._refuse(stream, None, "closed before sending the password")
            if byte == protocol.NEWLINE:
                return protocol.decode_line(bytes(raw))
            raw += byte
        self._refuse(stream, protocol.PASSWORD_MISSING, "sent an over-long first line")

    # -- helpers ---------------------------------------------------------------

    def _left(self, deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - self._clock())

    @contextlib.contextmanager
    def _tracked(self, sock: socket.socket) -> Iterator[Callable[[Stream], None]]:
        """Register what abort() must shut down while a connection is at the door."""
        key = next(self._ids)

        def track(stream: Stream) -> None:
            with self._lock:
                self._opening[key] = stream
            if self._aborted.is_set():
                self._refuse(stream, None, "server stopping")

        track(sock)
        try:
            yield track
        except OSError as exc:  # reset or broken mid-exchange
            raise Refused(describe(exc)) from None
        finally:
            with self._lock:
                del self._opening[key]

    def _refuse(self, stream: Stream, notice: str | None, reason: str) -> NoReturn:
        """Tell the peer *notice* (if any), let it read it, close, raise :class:`Refused`."""
        with contextlib.suppress(OSError):
            if notice is not None:
                _send_notice(stream, notice)
            stream.shutdown(socket.SHUT_WR)
            # Read what the peer sent until it hangs up (bounded), so closing with
            # unread input does not reset the connection before it read the notice.
            end = self._clock() + self.linger_seconds
            for _ in range(64):
                left = end - self._clock()
                if left <= 0 or not wait_readable(stream, left) or not stream.recv(4096):
                    break
        stream.close()
        raise Refused(reason)


def _send_notice(stream: Stream, text: str) -> None:
    stream.sendall(protocol.encode_line(protocol.format_notice(text)))
