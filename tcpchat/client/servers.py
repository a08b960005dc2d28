"""Where a client connects: ``HOST:PORT`` addresses, and a round of servers tried in turn.

A client given several servers of one room (``docs/protocol.md``,
"Failover") keeps one session across them: when its connection drops it
resumes on the *next* server at once, because a resume costs a few
milliseconds and any server of the room has the same log.  Only when every
server of a :class:`ServerRound` failed does the front end's back-off apply
(:data:`tcpchat.runtime.RETRY_DELAYS`), so a room whose servers are all down
is not hammered, while one dead server costs no wait at all.

A round counts *attempts*, not seconds: a server that accepts and drops the
connection before the session notice and the end of its replay (a crashing
server, a proxy whose target is gone, a replay this client is too slow for)
uses up its turn just as one that refuses does, so the client never spins
between servers that each let it in and throw it out.  A connection that
made it that far was a success, and the next drop starts a new round after
it.

:func:`parse_server` reads the command line's ``--server`` and
``TCPCHAT_SERVERS``: ``HOST:PORT``, ``HOST`` (port 9000), ``[::1]:9000`` or
``[::1]``; anything else is a :class:`ValueError` saying what is wrong.
:func:`open_stream` makes the TCP (and TLS) connection to one of them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from typing import Callable, Sequence

from tcpchat.errors import ChatError, describe, format_address
from tcpchat.protocol import DEFAULT_PORT
from tcpchat.streams import Stream, TLSStream
from tcpchat.tls import describe_tls_error

Address = tuple[str, int]

_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?\Z")


def parse_server(text: str, default_port: int = DEFAULT_PORT) -> Address:
    """``HOST[:PORT]`` or ``[IPV6][:PORT]`` as ``(host, port)``; :class:`ValueError` if bad.

    The message names the text and what it should have been, for the
    command line to print as it is.
    """
    spec = text.strip()

    def bad(why: str) -> ValueError:
        return ValueError(f"bad server address {text!r}: {why}")

    if not spec:
        raise bad("it is empty; expected HOST:PORT, e.g. 127.0.0.1:9000")
    if "://" in spec:
        raise bad("give HOST:PORT, not a URL")
    if spec.startswith("["):
        host, bracket, rest = spec[1:].partition("]")
        if not bracket:
            raise bad("no ']' after the IPv6 address; expected [ADDRESS]:PORT")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"{host!r} is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise bad("expected ':PORT' after ']'")
        port_text = rest[1:] if rest else None
    else:
        if spec.count(":") > 1:
            raise bad("an IPv6 address needs brackets, e.g. [::1]:9000")
        host, colon, port_text_found = spec.partition(":")
        port_text = port_text_found if colon else None
        if not host:
            raise bad("no host before ':'")
        if not _HOST_NAME.match(host):
            raise bad(f"{host!r} is not a host name or IPv4 address")
    if port_text is None:
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise bad(f"the port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def parse_servers(text: str, default_port: int = DEFAULT_PORT) -> list[Address]:
    """A comma-separated list of :func:`parse_server` addresses (``TCPCHAT_SERVERS``)."""
    parts = text.split(",")
    if not text.strip() or any(not part.strip() for part in parts):
        raise ValueError(
            f"bad server list {text!r}: expected HOST:PORT,HOST:PORT with no empty entries"
        )
    return [parse_server(part, default_port) for part in parts]


class ServerRound:
    """The servers still to try before the client gives up to the front end's back-off."""

    def __init__(self, servers: Sequence[Address]) -> None:
        if not servers:
            raise ValueError("a client needs at least one server")
        self.servers = list(servers)
        self._left: list[Address] = list(self.servers)  # the first round: in the given order
        self.current = self.servers[0]

    @property
    def fails_over(self) -> bool:
        """Whether a drop is followed by the next server (two or more servers)."""
        return len(self.servers) > 1

    def restart_after_current(self) -> None:
        """The current connection got its session: a drop starts a new round after it.

        The next server first, the one just lost last (it may only have cut
        this one connection).
        """
        at = self.servers.index(self.current)
        self._left = self.servers[at + 1 :] + self.servers[: at + 1]

    def next(self) -> Address | None:
        """The next server to try in this round, or None when the round is over."""
        if not self._left:
            return None
        self.current = self._left.pop(0)
        return self.current

    def open_next(
        self, timeout: float, tls: ssl.SSLContext | None, stop: Callable[[], bool]
    ) -> tuple[Stream | None, list[str]]:
        """Connect to the next server of the round that answers, at once, one after the other.

        The stream (None when the round is over, or *stop* said so before an
        attempt) and why each server before it failed, in order.
        """
        failures: list[str] = []
        while not stop() and (address := self.next()) is not None:
            try:
                return open_stream(*address, timeout=timeout, tls=tls), failures
            except ChatError as exc:
                failures.append(str(exc))
        return None, failures


def open_stream(
    host: str, port: int, *, timeout: float, tls: ssl.SSLContext | None = None
) -> Stream:
    """Connect (and shake hands, with *tls*) within *timeout*; :class:`ChatError` if that fails."""
    address = format_address(host, port)
    try:
        sock = socket.create_connection((host, port), timeout)
    except OSError as exc:
        raise ChatError(f"cannot connect to {address}: {describe(exc)}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls is None:
        sock.settimeout(None)
        return sock
    try:
        tls_sock = tls.wrap_socket(sock, server_hostname=host)
    except (OSError, ValueError) as exc:
        sock.close()
        raise ChatError(f"cannot connect to {address}: {describe_tls_error(exc)}") from None
    tls_sock.settimeout(None)
    return TLSStream(tls_sock)
