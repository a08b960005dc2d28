"""Security limits asserted at the limit, on the server core over real sockets (issue 16).

The real wrong-password delay (not 0), the TLS 1.2 floor with a real TLS 1.1
client, host-name verification, a full TLS server that does not talk plain
text into a handshake, a password refusal that gives its per-address seat
back.  (The operator chatting inside the single order: test_delivery_limits.py.)
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from harness import RawPeer, run_concurrently
from tls_certs import make_certificate

from tcpchat.client import ChatClient
from tcpchat.errors import ChatError
from tcpchat.guard import Limits
from tcpchat.server import ChatServer
from tcpchat.tls import client_context, server_context

PASSWORD = "open sesame"


@pytest.fixture
def certificate(tmp_path: Path, address: tuple[str, int]) -> tuple[str, str]:
    return make_certificate(tmp_path, f"IP:{address[0]}")


def serve(address: tuple[str, int], **options: object) -> ChatServer:
    server = ChatServer(*address, **options)  # type: ignore[arg-type]
    server.start()
    return server


@pytest.fixture
def stop_later() -> Iterator[list[ChatServer]]:
    servers: list[ChatServer] = []
    yield servers
    for server in servers:
        server.stop()


def guess(address: tuple[str, int], secret: str) -> tuple[list[str], float]:
    """Send /pass SECRET as a raw peer: (every line until the server hangs up, seconds taken)."""
    peer = RawPeer(*address)
    peer.expect_line(r"^\* password required")
    started = time.monotonic()
    peer.send_line(f"/pass {secret}")
    if secret == PASSWORD:
        peer.expect_line(r"^\* welcome, you are ")
        taken = time.monotonic() - started
        lines = peer.lines
        peer.close()
        return lines, taken
    peer.wait_closed()
    taken = time.monotonic() - started
    lines = peer.lines
    peer.close()
    return lines, taken


def test_a_wrong_password_is_answered_after_the_real_delay(
    address: tuple[str, int], stop_later: list[ChatServer]
) -> None:
    stop_later.append(serve(address, password=PASSWORD))
    lines, taken = guess(address, "wrong")
    assert lines[-1] == "* error: wrong password; closing"
    assert taken >= 0.9, f"a wrong password was answered after {taken:.3f} s"
    # The right password is not delayed by it (the delay is per guess, not per server).
    lines, _ = guess(address, PASSWORD)
    assert "* password accepted" in lines


def test_33_wrong_guesses_from_one_address_give_their_seats_back(
    address: tuple[str, int], stop_later: list[ChatServer]
) -> None:
    """One more guess than the per-address limit (32): a leaked seat shows up as a refusal."""
    stop_later.append(serve(address, password=PASSWORD))
    outcomes: list[str] = []
    lock = threading.Lock()

    def wrong() -> None:
        lines, _ = guess(address, "wrong")
        with lock:
            outcomes.append(lines[-1])

    for _ in range(3):  # three rounds of 11 at once: 33 guesses, 3 wrong-password delays
        run_concurrently(*([wrong] * 11))
    assert outcomes == ["* error: wrong password; closing"] * 33
    lines, _ = guess(address, PASSWORD)
    assert "* password accepted" in lines
    assert any(line.startswith("* welcome, you are ") for line in lines)


def tls11_client_context(cafile: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 allows TLS 1.1 only at level 0
    context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


def tls11_handshake(address: tuple[str, int], context: ssl.SSLContext) -> str:
    """The TLS version agreed with *address*, or the error's text."""
    with socket.create_connection(address, 5) as sock:
        try:
            with context.wrap_socket(sock, server_hostname=address[0]) as tls:
                return str(tls.version())
        except (ssl.SSLError, OSError) as exc:
            return f"refused: {exc}"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLSVersion.TLSv1_1 is, rightly
def test_a_tls_1_1_client_is_refused_by_the_server(
    address: tuple[str, int], certificate: tuple[str, str], stop_later: list[ChatServer]
) -> None:
    cert, key = certificate
    client = tls11_client_context(cert)
    # Control: can this machine's OpenSSL speak TLS 1.1 at all?  Against a bare
    # listener that allows it, the same client must get TLS 1.1.
    lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    lenient.load_cert_chain(cert, key)
    lenient.set_ciphers("DEFAULT:@SECLEVEL=0")
    lenient.minimum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_server((address[0], 0)) as listener:
        accepted = threading.Thread(target=_accept_tls, args=(listener, lenient))
        accepted.start()
        control = tls11_handshake(listener.getsockname()[:2], client)
        accepted.join(10)
    if control != "TLSv1.1":
        pytest.skip(
            f"this OpenSSL cannot speak TLS 1.1 even to a lenient server ({control}); "
            "test_the_tls_contexts_floor_is_1_2 checks the floor instead"
        )
    stop_later.append(serve(address, tls=server_context(cert, key)))
    outcome = tls11_handshake(address, client)
    assert outcome.startswith("refused:"), outcome
    assert "protocol version" in outcome.lower() or "unsupported" in outcome.lower(), outcome


def _accept_tls(listener: socket.socket, context: ssl.SSLContext) -> None:
    sock, _ = listener.accept()
    sock.settimeout(5)
    try:
        with context.wrap_socket(sock, server_side=True):
            pass
    except (ssl.SSLError, OSError):
        sock.close()


def test_the_tls_contexts_floor_is_1_2(certificate: tuple[str, str]) -> None:
    """The contexts themselves, for machines whose OpenSSL cannot make a TLS 1.1 client."""
    cert, key = certificate
    assert server_context(cert, key).minimum_version is ssl.TLSVersion.TLSv1_2
    assert client_context(cert).minimum_version is ssl.TLSVersion.TLSv1_2


def test_a_certificate_for_another_address_is_refused_by_the_client(
    tmp_path: Path, address: tuple[str, int], stop_later: list[ChatServer]
) -> None:
    # Trusted (it is the cafile) but made out for 127.0.0.99 / another.example, not this address.
    cert, key = make_certificate(tmp_path, "IP:127.0.0.99,DNS:another.example", "other")
    stop_later.append(serve(address, tls=server_context(cert, key)))
    client = ChatClient(*address, tls=client_context(cert))
    with pytest.raises(ChatError, match=r"cannot connect to .*(match|mismatch|hostname|IP)"):
        client.connect()
    client.close()
    # Control: the same server and trust with a certificate for this address works.
    right_cert, right_key = make_certificate(tmp_path, f"IP:{address[0]}", "right")
    stop_later[0].stop()
    stop_later[0] = serve(address, tls=server_context(right_cert, right_key))
    good = ChatClient(*address, tls=client_context(right_cert))
    good.connect()
    good.close()


@pytest.mark.parametrize(
    "limit",
    [{"max_clients": 1}, {"limits": Limits(max_connections_per_address=1, limit_loopback=True)}],
    ids=["server full", "one per address"],
)
def test_a_full_tls_server_does_not_write_plain_text_into_the_handshake(
    limit: dict[str, object],
    address: tuple[str, int],
    certificate: tuple[str, str],
    stop_later: list[ChatServer],
) -> None:
    cert, key = certificate
    stop_later.append(serve(address, tls=server_context(cert, key), **limit))
    first = ChatClient(*address, tls=client_context(cert))
    first.connect()  # the one seat
    try:
        # A raw peer that has not started its handshake must get no plain-text notice.
        with socket.create_connection(address, 5) as raw:
            raw.settimeout(10)
            received = b""
            while chunk := raw.recv(4096):
                received += chunk
        assert received == b"", received
        # A real TLS client is told it failed, cleanly and at once (no garbled record).
        second = ChatClient(*address, tls=client_context(cert))
        with pytest.raises(ChatError, match="cannot connect to"):
            second.connect()
        second.close()
    finally:
        first.close()
