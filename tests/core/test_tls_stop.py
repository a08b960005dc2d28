"""Stopping interrupts a TLS handshake in progress (issue 15 item 6).

``wrap_socket()`` takes the raw socket's file descriptor, so the door must
shut the TLS socket down to wake a handshake; before, ``stop()`` waited for
the handshake deadline, and with no deadline (``--handshake-timeout 0``)
forever.  A real half-done handshake: our ClientHello is answered, then we
stall.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path

from door_helpers import make_certificate

from tcpchat.guard import Limits
from tcpchat.server import ChatServer
from tcpchat.tls import server_context

HANG = 60.0
"""Only a bound on a hang: a stop that works returns at once."""


def stalled_handshake(address: tuple[str, int]) -> socket.socket:
    """Connect, send a ClientHello, read the server's answer, and go quiet."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    sock = socket.create_connection(address, HANG)
    sock.sendall(outgoing.read())
    assert sock.recv(65536)  # the ServerHello: the server is inside do_handshake()
    return sock


def test_stop_interrupts_a_stalled_tls_handshake_with_no_deadline(
    tmp_path: Path, address: tuple[str, int]
) -> None:
    cert, key = make_certificate(tmp_path, address[0])
    server = ChatServer(*address, tls=server_context(cert, key), limits=Limits(handshake_seconds=0))
    server.start()
    sock = stalled_handshake(address)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(HANG)
    stopped = not stopper.is_alive()
    sock.close()  # lets a stuck stop() finish, so a failure leaves no thread behind
    stopper.join()
    assert stopped, "stop() waited for a handshake that had no deadline"
