"""Waiting on sockets with a deadline, and a TLS socket two threads can share.

tcpchat gives each connection a reader thread and a writer thread.  With a
plain socket that is fine: the kernel lets one thread block in ``recv()``
while another blocks in ``sendall()``.  With TLS it is not: OpenSSL keeps one
state per connection that both reading and writing change, and it forbids two
threads inside it at once (CPython 3.9 to 3.13 does not serialise the calls
either; doing it anyway corrupts the stream or crashes).  :class:`TLSStream`
makes it safe the way the OpenSSL developers advise: the socket is made
non-blocking, every OpenSSL call is made under one lock, and all *waiting*
for the network happens outside that lock, so a writer stuck on a peer that
does not read never stops the reader.

A writer must also be able to give up on such a peer: :func:`send_within`
sends what the peer takes within a time limit, without touching the socket's
blocking mode (the reader may be blocked on the same socket), and hands back
the rest as a view of the same bytes, so a writer that retries copies nothing.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
import ssl
import struct
import threading
import time
from typing import Protocol, Union

Buffer = Union[bytes, memoryview]
"""What is sent; the rest of a send is a view of the same bytes, not a copy."""


class _Waitable(Protocol):
    def fileno(self) -> int: ...


def wait_ready(sock: _Waitable, *, write: bool = False, timeout: float | None = None) -> bool:
    """Wait until *sock* can be read (or written); False if *timeout* seconds passed first.

    A socket that was shut down or reset counts as ready: the next call on it
    reports what happened.  Uses ``poll()`` where there is one, since
    ``select()`` cannot watch descriptors above 1023.
    """
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT if write else select.POLLIN)
        # Round up: waking a fraction of a millisecond early would only spin.
        return bool(poller.poll(None if timeout is None else math.ceil(max(0.0, timeout) * 1000)))
    watched = [sock]  # pragma: no cover (Windows has no poll())
    ready = (
        select.select([], watched, [], timeout)
        if write
        else select.select(watched, [], [], timeout)
    )
    return any(ready)


def wait_readable(sock: Stream, timeout: float | None = None) -> bool:
    """Wait until ``sock.recv()`` will not block; False if *timeout* seconds passed first."""
    if isinstance(sock, TLSStream):
        return sock.wait_readable(timeout)
    return wait_ready(sock, timeout=timeout)


class TLSStream:
    """A TLS connection one thread may read while another writes.

    It offers the few socket methods tcpchat uses (``recv``, ``sendall``,
    ``shutdown``, ``close``, ``fileno``), so the server and client cores treat
    it like a plain socket.  Create it after the handshake.
    """

    recv_bytes = 16384
    """The most one TLS record holds."""

    def __init__(self, tls: ssl.SSLSocket) -> None:
        tls.setblocking(False)
        self._tls = tls
        self._lock = threading.Lock()  # held only while inside OpenSSL, never while waiting
        self._unread = b""  # decrypted, not yet returned by recv() (reader thread only)
        self._offset = 0
        self._at_end = False

    @property
    def version(self) -> str:
        """The protocol and cipher, e.g. ``TLSv1.3 TLS_AES_256_GCM_SHA384``."""
        cipher = self._tls.cipher()
        return f"{self._tls.version()} {cipher[0] if cipher else ''}".strip()

    def fileno(self) -> int:
        return self._tls.fileno()

    def wait_readable(self, timeout: float | None = None) -> bool:
        """Wait until decrypted data (or the end) is here; False if *timeout* passed first.

        A readable socket is not enough: it may hold half a TLS record, and
        ``recv()`` would then block for the rest (a slowloris trick).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._offset >= len(self._unread) and not self._at_end:
            with self._lock:
                try:
                    self._unread, self._offset = self._tls.recv(self.recv_bytes), 0
                    self._at_end = not self._unread
                    continue
                except ssl.SSLWantReadError:
                    write = False
                except ssl.SSLWantWriteError:  # e.g. answering a TLS 1.3 key update
                    write = True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            wait_ready(self._tls, write=write, timeout=left)
        return True

    def recv(self, size: int) -> bytes:
        """Up to *size* bytes; blocks until there is at least one, or b"" at the end."""
        self.wait_readable()
        data = self._unread[self._offset : self._offset + size]
        self._offset += len(data)
        return data

    def sendall(self, data: bytes) -> None:
        """Send all of *data*, blocking (outside the lock) while the peer is not reading."""
        self.send_within(data, None)

    def send_within(self, data: Buffer, timeout: float | None) -> memoryview:
        """Send what the peer takes within *timeout* seconds (None: all); return the rest.

        What OpenSSL took but could not yet write counts as not sent: call
        again with the same rest, as OpenSSL asks.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(data)
        while view:
            with self._lock:
                try:
                    view = view[self._tls.send(view) :]
                    continue
                except ssl.SSLWantWriteError:
                    write = True
                except ssl.SSLWantReadError:
                    write = False
            # OpenSSL remembers what it already took: retry with the same bytes.
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            if not wait_ready(self._tls, write=write, timeout=left):
                break
        return view

    def shutdown(self, how: int) -> None:
        """Shut the TCP connection down, waking a thread waiting on it.

        ``SSLSocket.shutdown()`` would also drop the TLS state under the feet
        of the other thread, so the plain socket's method is called instead.
        No TLS close_notify is sent: tcpchat messages end with a newline, so a
        cut-off stream can only lose an unfinished line, which is discarded.
        """
        socket.socket.shutdown(self._tls, how)

    def close(self) -> None:
        self._tls.close()


Stream = Union[socket.socket, TLSStream]
"""What a connection reads and writes: a plain socket or a :class:`TLSStream`."""

_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)  # not on Windows


def send_within(stream: Stream, data: Buffer, timeout: float) -> memoryview:
    """Send what the peer takes within *timeout* seconds; return the rest (empty: all went).

    Neither the socket's blocking mode nor its timeout is touched (another
    thread may be reading it): a plain socket is sent to with
    ``MSG_DONTWAIT`` and waited on with ``poll()``.  Without ``MSG_DONTWAIT``
    (Windows) it is a plain ``sendall()``, with no deadline.
    """
    if isinstance(stream, TLSStream):
        return stream.send_within(data, timeout)
    if not _DONTWAIT:  # pragma: no cover (Windows)
        stream.sendall(data)
        return memoryview(b"")
    deadline = time.monotonic() + timeout
    view = memoryview(data)
    while view:
        try:
            view = view[stream.send(view, _DONTWAIT) :]
            continue
        except BlockingIOError:
            pass
        left = deadline - time.monotonic()
        if left <= 0 or not wait_ready(stream, write=True, timeout=left):
            break
    return view


def shutdown(stream: Stream, how: int = socket.SHUT_RDWR) -> None:
    """``stream.shutdown(how)``, where a stream already closed or gone is no error."""
    with contextlib.suppress(OSError):  # already closed or never connected: nothing to shut
        stream.shutdown(how)


def close(stream: Stream, *, reset: bool = False) -> None:
    """Close *stream*; with *reset*, abortively: the peer gets a reset, not an orderly end.

    A connection dropped for being too slow (or broken) must not close
    politely: if its peer is still sending into a full window, an orderly
    close leaves the peer waiting on a window that never opens until the
    kernel's FIN-WAIT-2 timer (a minute) runs out.  ``SO_LINGER`` with a zero
    timeout makes the close send a reset, so the peer's next send fails at once.
    """
    if reset:
        sock = stream._tls if isinstance(stream, TLSStream) else stream
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.close()


def send_some(sock: Stream, data: bytes) -> tuple[bytes, OSError | None]:
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
