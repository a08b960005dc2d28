"""A TCP proxy the test controls: forward bytes both ways, cut every connection on demand.

The resume tests need a client whose connection *drops* while the server
and everyone else carry on, the way a flaky Wi-Fi or a NAT timeout cuts
one user: neither side closes by choice.  Point the client at
:attr:`TcpProxy.address` instead of the server; :meth:`TcpProxy.cut`
ends every connection passing through at once (both halves, with a reset,
so neither end gets a polite goodbye), and new connections are forwarded
as before, so the client's reconnect reaches the server again.  With
:meth:`TcpProxy.refuse` the proxy also turns newcomers away (a longer
outage) until :meth:`TcpProxy.accept` is called.

Loopback only, one thread per direction per connection: small and plain,
meant to be copied like the rest of the harness.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class TcpProxy:
    """Listen on *listen_host* (a free port) and forward each connection to *target*."""

    def __init__(self, target: tuple[str, int], listen_host: str = "127.0.0.1") -> None:
        self.target = target
        self._listener = socket.create_server((listen_host, 0))
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._refusing = False
        self.connections = 0
        """How many connections were forwarded so far."""
        self.cuts = 0
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def cut(self) -> int:
        """Reset every connection passing through now; how many there were."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self.cuts += 1
        for pair in pairs:
            pair.cut.set()  # first, so the pumps do not pass an orderly end on
            for sock in (pair.client, pair.upstream):
                _reset(sock)
        return len(pairs)

    def refuse(self) -> None:
        """From now on, reset newcomers at once (the server is "unreachable")."""
        with self._lock:
            self._refusing = True

    def accept(self) -> None:
        """Forward newcomers again."""
        with self._lock:
            self._refusing = False

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refusing = self._refusing
            if refusing:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            pair = _Pair(client, upstream)
            with self._lock:
                self._pairs.append(pair)
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(pair, source, sink), daemon=True).start()


class _Pair:
    """The two sockets of one forwarded connection, and whether it was cut."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.cut = threading.Event()


def _pump(pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
    """Copy *source* to *sink*; pass an orderly end on, unless the pair was cut."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        if not pair.cut.is_set():
            sink.shutdown(socket.SHUT_WR)


def _reset(sock: socket.socket) -> None:
    """Close *sock* with a reset (SO_LINGER 0), not a FIN: a cut, not a goodbye.

    ``SHUT_RD`` sends nothing on Linux but wakes a pump blocked in ``recv()``.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    sock.close()
