"""The misdeeds of the soak: each one hostile connection, and what the server must answer.

Each misdeed takes the server's host and a random generator, does one
hostile thing from its own loopback source address and returns whether it
reached the server (``None``: refused or never welcomed, not counted) and, if
it did, whether the server answered as it should.  Misdeeds whose only visible
outcome is the server's own record ("left (connection reset by peer)") name
the leave reason expected in the server's output in :data:`EXPECTED_LEAVE`.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import re
import socket
import struct
import threading

PORT = 9000
_sources = (f"127.77.{n // 250}.{n % 250 + 1}" for n in itertools.count())
_source_lock = threading.Lock()


def new_source() -> str:
    """A loopback source address no connection of this soak has used."""
    with _source_lock:
        return next(_sources)


def connect(host: str, source: str | None = None) -> socket.socket:
    """A connection from *source* (default: a fresh address, like a new machine)."""
    return socket.create_connection((host, PORT), 15, source_address=(source or new_source(), 0))


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


WELCOME = re.compile(rb"^\* welcome, you are (\S+);", re.MULTILINE)


class Misbehaver:
    """One hostile connection: it counts only once the server has welcomed it.

    A connection refused or never admitted did not reach the server, so it says
    nothing about how the server deals with the misdeed (``reached`` stays False).
    ``source`` is its own loopback address, which names it in the server's output.
    """

    def __init__(self, host: str, source: str | None = None) -> None:
        self.sock = connect(host, source)
        self.sock.settimeout(REPLY_SECONDS)
        self.source = self.sock.getsockname()[0]
        self.received = b""
        self.reached = self.wait_for(WELCOME) is not None

    def wait_for(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        """Read until *pattern* matches what came so far (None: the server closed, or timed out)."""
        while (match := pattern.search(self.received)) is None:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return None
            if not data:
                return None
            self.received += data
        return match

    def read_to_end(self) -> bool:
        """Read until the server hangs up; True if it did within the timeout."""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return False
            if not data:
                return True
            self.received += data


REPLY_SECONDS = 15.0
"""How long a misbehaver waits for the server's answer (generous: the machine is busy)."""


# Each misdeed returns None if it never reached the server (not counted), else
# whether the server did what it should with it.  Misdeeds whose only visible
# outcome is the server's own record ("left (connection reset by peer)") also
# name the leave reason expected in the server's output (see EXPECTED_LEAVE).


def garbage(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Random bytes: the server goes on parsing and still answers /quit with bye."""
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000))).replace(b"\n", b" ")
    peer.sock.sendall(noise + b"\n/quit\n")
    handled = peer.wait_for(re.compile(rb"^\* bye$", re.MULTILINE)) is not None
    peer.sock.close()
    return handled, peer.source


def long_line(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Over the 4096-byte limit: the sender is told its line is too long."""
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    peer.sock.sendall(b"L" * rng.randrange(5_000, 200_000) + b"\n")
    handled = peer.wait_for(re.compile(rb"^\* error: line too long", re.MULTILINE)) is not None
    peer.sock.close()
    return handled, peer.source


def endless_line_then_reset(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """A line that never ends: reported as soon as it passes the limit, then a reset."""
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    peer.sock.sendall(b"E" * rng.randrange(100_000, 1_000_000))
    handled = peer.wait_for(re.compile(rb"^\* error: line too long", re.MULTILINE)) is not None
    _reset(peer.sock)
    return handled, peer.source


def reset_mid_line(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Half a line, then a reset: only the server's record shows the outcome."""
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    peer.sock.sendall(b"half a li")
    _reset(peer.sock)
    return True, peer.source


def vanish(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Welcomed, then gone without a word: the server's record shows a closed connection."""
    peer = Misbehaver(host)
    peer.sock.close()
    return (True if peer.reached else None), peer.source


def flood(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Far over the burst: the sender is warned to slow down."""
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    peer.sock.sendall(b"".join(b"flood %d\n" % i for i in range(rng.randrange(200, 2000))))
    handled = peer.wait_for(re.compile(rb"^\* slow down", re.MULTILINE)) is not None
    peer.sock.close()
    return handled, peer.source


def escape_sequences(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Terminal escapes: relayed only as visible stand-ins, and refused as a nickname."""
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    peer.sock.sendall(b"\x1b]0;pwned\x07\x1b[2J\x9b\x00\xff\xfe\r\n/nick \x1b[31mred\n")
    echoed = peer.wait_for(re.compile(rb"^\S+: \xe2\x90\x9b\]0;pwned", re.MULTILINE))
    # The nickname is refused, or taken in its visible form ("␛[31mred"), never raw.
    nick = peer.wait_for(
        re.compile(rb"^\* (error: cannot change nickname|\S+ is now \xe2\x90\x9b\[31mred$)", re.M)
    )
    handled = echoed is not None and nick is not None and b"\x1b" not in peer.received
    peer.sock.close()
    return handled, peer.source


def half_close(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Two lines, then end of sending: both answered, then the server hangs up."""
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    peer.sock.sendall(b"/who\nbye\n")
    peer.sock.shutdown(socket.SHUT_WR)
    closed = peer.read_to_end()
    text = peer.received
    handled = (
        closed and b"\n* online: " in text and re.search(rb"^\S+: bye$", text, re.M) is not None
    )
    peer.sock.close()
    return handled, peer.source


def never_reading_replier(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Asks for replies (unknown commands) and never reads them: paced, bounded, then reset.

    Everything queued to a connection counts against one budget, and its
    lines are paced like anyone's, so the server's memory for it stays small.
    Its outcome is the soak's own: the RSS and thread bounds at the end (how
    soon the server notices the reset depends on where pacing left it, so no
    leave reason is expected).
    """
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    command = b"/" + b"r" * 250 + b"\n"
    peer.sock.settimeout(2.0)
    with contextlib.suppress(OSError):  # paced: the server stops reading it, sends time out
        for _ in range(rng.randrange(200, 600)):
            peer.sock.sendall(command)
    _reset(peer.sock)
    return True, peer.source


def reconnect_churn(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """One address connecting, chatting and resetting over and over: its budget survives.

    The line budget belongs to the address, not the connection, so twenty
    connections of ten lines each meet the same burst of 100: one of them
    is told to slow down.
    """
    source = new_source()
    told = False
    first: str | None = None
    for _ in range(20):
        peer = Misbehaver(host, source)
        if not peer.reached:
            peer.sock.close()
            return (None if first is None else told), source
        first = first or peer.source
        peer.sock.sendall(b"".join(b"churn %d\n" % n for n in range(10)))
        if not told:
            peer.sock.sendall(b"/who\n")  # answered only once all ten were let through
            slowed = re.compile(rb"^\* (slow down|online: )", re.MULTILINE)
            match = peer.wait_for(slowed)
            told = match is not None and match.group(1) == b"slow down"
        _reset(peer.sock)
    return told, source


def over_long_flood(host: str, rng: random.Random) -> tuple[bool | None, str]:
    """Over-long lines in a loop: each one costs a token too, so they are paced as well."""
    peer = Misbehaver(host)
    if not peer.reached:
        peer.sock.close()
        return None, peer.source
    line = b"O" * 4097 + b"\n"
    peer.sock.settimeout(2.0)
    with contextlib.suppress(OSError):  # paced: the server stops reading it, sends time out
        peer.sock.sendall(line * rng.randrange(150, 400))
    peer.sock.settimeout(REPLY_SECONDS)
    handled = peer.wait_for(re.compile(rb"^\* slow down", re.MULTILINE)) is not None
    handled = handled and b"* error: line too long" in peer.received
    peer.sock.close()
    return handled, peer.source


MISDEEDS = (
    garbage, long_line, endless_line_then_reset, reset_mid_line, vanish, flood,
    escape_sequences, half_close, never_reading_replier, reconnect_churn, over_long_flood,
)  # fmt: skip

EXPECTED_LEAVE = {
    "garbage": "quit",
    "reset_mid_line": "connection reset by peer",
    "endless_line_then_reset": "connection reset by peer",
    "vanish": "connection closed",
    "half_close": "connection closed",
}
"""The leave reason the server must record for a misdeed whose outcome it alone sees."""
