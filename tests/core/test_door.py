"""The door (TLS, then the password) over real loopback sockets, and openssl interop."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import BinaryIO, Iterator

import pytest
from door_helpers import door_step, make_certificate
from harness import ChatProcess

from tcpchat import protocol
from tcpchat.server.door import Gate, Refused, password_refusal
from tcpchat.streams import TLSStream
from tcpchat.tls import client_context, server_context

TIMEOUT = 15.0


class Peer:
    """A one-thread test client: plain or TLS, reading whole lines with a timeout."""

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(address, TIMEOUT)
        self.sock: socket.socket = (
            tls.wrap_socket(sock, server_hostname=address[0]) if tls else sock
        )
        self.file: BinaryIO = self.sock.makefile("rb")

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def line(self) -> str:
        return self.file.readline().decode().rstrip("\n")

    def rest(self) -> list[str]:
        """Every line until the server closes."""
        return [line.decode().rstrip("\n") for line in self.file]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def certificate(tmp_path: Path, address: tuple[str, int]) -> tuple[str, str]:
    return make_certificate(tmp_path, address[0])


@pytest.fixture
def host(address: tuple[str, int]) -> str:
    return address[0]


def quick_gate(**options: object) -> Gate:
    gate = Gate(**options)  # type: ignore[arg-type]
    gate.wrong_password_delay = 0
    gate.linger_seconds = 0.5
    return gate


NOTICE = "* {}".format


# -- the password ------------------------------------------------------------


def test_the_right_password_opens_and_nothing_after_it_is_lost(host: str) -> None:
    with door_step(quick_gate(password="s3cret"), host) as step:
        peer = Peer(step.address)
        peer.send("/pass s3cret\nfirst words\n")  # pipelined, as a script would
        assert peer.line() == NOTICE(protocol.PASSWORD_PROMPT)
        assert peer.line() == NOTICE(protocol.PASSWORD_ACCEPTED)
        assert peer.line() == "* welcome"
        assert peer.line() == "echo: first words"
        peer.close()


def test_blank_lines_before_the_password_are_ignored(host: str) -> None:
    with door_step(quick_gate(password="s3cret"), host) as step:
        peer = Peer(step.address)
        peer.send("\r\n  \n/pass s3cret\r\n")
        assert peer.line() == NOTICE(protocol.PASSWORD_PROMPT)
        assert peer.line() == NOTICE(protocol.PASSWORD_ACCEPTED)
        peer.close()


@pytest.mark.parametrize(
    ("first_line", "notice", "reason"),
    [
        ("/pass guess", protocol.PASSWORD_WRONG, "wrong password"),
        ("/pass", protocol.PASSWORD_WRONG, "wrong password"),
        ("hello everyone", protocol.PASSWORD_MISSING, "did not send /pass first"),
        ("/nick eve", protocol.PASSWORD_MISSING, "did not send /pass first"),
    ],
)
def test_a_refused_peer_hears_why_and_nothing_else(
    host: str, first_line: str, notice: str, reason: str
) -> None:
    with door_step(quick_gate(password="s3cret"), host) as step:
        peer = Peer(step.address)
        peer.send(first_line + "\nmore\n")
        assert peer.rest() == [NOTICE(protocol.PASSWORD_PROMPT), NOTICE(notice)]
        refusal = step.outcome()
        assert isinstance(refusal, Refused)
        assert str(refusal) == reason
        peer.close()


def test_a_peer_that_never_sends_the_password_is_refused_at_the_deadline(host: str) -> None:
    with door_step(quick_gate(password="s3cret", timeout=0.3), host) as step:
        peer = Peer(step.address)
        assert peer.rest() == [NOTICE(protocol.PASSWORD_PROMPT), NOTICE(protocol.PASSWORD_MISSING)]
        assert str(step.outcome()) == "sent no password in time"
        peer.close()


def test_a_slowloris_first_line_is_refused_at_the_deadline(host: str) -> None:
    with door_step(quick_gate(password="s3cret", timeout=0.3), host) as step:
        peer = Peer(step.address)
        peer.send("/pass s3c")  # and never the rest
        assert peer.rest()[-1] == NOTICE(protocol.PASSWORD_MISSING)
        peer.close()


def test_an_endless_first_line_is_refused_without_reading_it_all(host: str) -> None:
    with door_step(quick_gate(password="s3cret"), host) as step:
        peer = Peer(step.address)
        peer.send("/pass " + "x" * 5000)
        assert peer.rest()[-1] == NOTICE(protocol.PASSWORD_MISSING)
        assert str(step.outcome()) == "sent an over-long first line"
        peer.close()


def test_password_refusal_is_a_pure_function() -> None:
    assert password_refusal("/pass a b", "a b") is None
    assert password_refusal("/PASS  a b ", "a b") is None
    assert password_refusal("/pass A B", "a b") == protocol.PASSWORD_WRONG
    assert password_refusal("a b", "a b") == protocol.PASSWORD_MISSING


def test_abort_refuses_everyone_waiting_at_the_door(host: str) -> None:
    gate = quick_gate(password="s3cret", timeout=0)  # no deadline: only abort ends the wait
    with door_step(gate, host, count=3) as step:
        peers = [Peer(step.address) for _ in range(3)]
        for peer in peers:
            assert peer.line() == NOTICE(protocol.PASSWORD_PROMPT)
        gate.abort()
        for _ in peers:
            assert isinstance(step.outcome(), Refused)
        for peer in peers:
            assert peer.rest() == []
            peer.close()
    assert len(gate) == 0


# -- TLS -----------------------------------------------------------------------


def test_tls_then_password_then_chat(host: str, certificate: tuple[str, str]) -> None:
    gate = quick_gate(tls=server_context(*certificate), password="s3cret")
    with door_step(gate, host) as step:
        peer = Peer(step.address, client_context(cafile=certificate[0]))
        assert peer.line() == NOTICE(protocol.PASSWORD_PROMPT)
        peer.send("/pass s3cret\nover TLS\n")
        assert [peer.line(), peer.line(), peer.line()] == [
            NOTICE(protocol.PASSWORD_ACCEPTED),
            "* welcome",
            "echo: over TLS",
        ]
        stream = step.outcome()
        assert isinstance(stream, TLSStream)
        assert stream.version.startswith("TLSv1.")
        peer.close()


@pytest.mark.parametrize("first", ["/nick plain\n", ""])
def test_a_plain_text_client_on_the_tls_port_is_told_in_plain_text(
    host: str, certificate: tuple[str, str], first: str
) -> None:
    gate = quick_gate(tls=server_context(*certificate), timeout=0.3)
    with door_step(gate, host) as step:
        peer = Peer(step.address)
        peer.send(first)  # says something at once, or waits for a greeting
        assert peer.rest() == [NOTICE(protocol.TLS_REQUIRED)]
        assert isinstance(step.outcome(), Refused)
        peer.close()


def test_an_untrusted_certificate_fails_on_both_sides_with_one_line(
    host: str, certificate: tuple[str, str]
) -> None:
    with door_step(quick_gate(tls=server_context(*certificate)), host) as step:
        with pytest.raises(ssl.SSLCertVerificationError):
            Peer(step.address, client_context())  # the system's authorities only
        refusal = step.outcome()
        assert isinstance(refusal, Refused)
        assert str(refusal) == "TLS: the other side refused the handshake (unknown ca)"


def test_tls_streams_carry_heavy_traffic_both_ways_at_once(
    host: str, certificate: tuple[str, str]
) -> None:
    """One reader and one writer thread per side: the case OpenSSL alone forbids."""
    size = 8 * 1024 * 1024
    with socket.create_server((host, 0)) as listener:
        client_raw = socket.create_connection(listener.getsockname()[:2], TIMEOUT)
        server_raw, _ = listener.accept()
    server_tls = server_context(*certificate).wrap_socket(
        server_raw, server_side=True, do_handshake_on_connect=False
    )
    handshake = threading.Thread(target=server_tls.do_handshake)
    handshake.start()
    client = TLSStream(client_context(certificate[0]).wrap_socket(client_raw, server_hostname=host))
    handshake.join()
    server = TLSStream(server_tls)
    received: dict[str, int] = {}

    def pump(name: str, stream: TLSStream) -> Iterator[threading.Thread]:
        def write() -> None:
            block = bytes(range(256)) * 256
            for _ in range(size // len(block)):
                stream.sendall(block)
            stream.shutdown(socket.SHUT_WR)

        def read() -> None:
            total, expected = 0, bytes(range(256))
            while data := stream.recv(65536):
                assert data == (expected * 257)[total % 256 : total % 256 + len(data)]
                total += len(data)
            received[name] = total

        for target in (write, read):
            thread = threading.Thread(target=target)
            thread.start()
            yield thread

    threads = [*pump("client", client), *pump("server", server)]
    for thread in threads:
        thread.join(60)
    assert received == {"client": size, "server": size}
    client.close()
    server.close()


# -- certificates and keys -----------------------------------------------------


def test_unusable_tls_files_are_one_line_errors(tmp_path: Path, host: str) -> None:
    from tcpchat.errors import ChatError

    cert, key = make_certificate(tmp_path, host)
    _, other_key = make_certificate(tmp_path, host, name="other")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cases = {
        (str(tmp_path / "missing.pem"), key): "cannot read TLS certificate .*missing.pem: no such",
        (cert, str(tmp_path / "gone.pem")): "cannot read TLS private key .*gone.pem: no such",
        (cert, other_key): "TLS key .*other-key.pem does not belong to certificate",
        (str(junk), key): "cannot load TLS certificate .*junk.pem with key .*: not PEM",
    }
    for (cert_path, key_path), message in cases.items():
        with pytest.raises(ChatError, match=message):
            server_context(cert_path, key_path)
    with pytest.raises(ChatError, match=r"--cafile .*junk.pem: no PEM certificate"):
        client_context(str(junk))
    with pytest.raises(ChatError, match=r"cannot read --cafile .*nope: no such file"):
        client_context(str(tmp_path / "nope"))


# -- interop: a TLS client nobody here wrote -------------------------------------


def test_openssl_s_client_passes_the_door_and_chats(
    host: str, certificate: tuple[str, str]
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    gate = quick_gate(tls=server_context(*certificate), password="s3cret")
    with door_step(gate, host) as step:
        command = [openssl, "s_client", "-connect", "{}:{}".format(*step.address)]
        command += ["-CAfile", certificate[0], "-verify_return_error", "-quiet", "-nocommands"]
        client = ChatProcess([], command=command, name="s_client")
        try:
            client.wait_for_output(r"^\* password required: send /pass PASSWORD$")
            client.send_line("/pass s3cret")
            client.wait_for_output(r"^\* password accepted$")
            client.send_line("hello from openssl")
            client.wait_for_output(r"^echo: hello from openssl$")
        finally:
            client.stop()


def test_the_openssl_command_line_tool_is_what_the_docs_say(certificate: tuple[str, str]) -> None:
    """docs/security.md tells users to make a certificate this way; keep it working."""
    result = subprocess.run(
        ["openssl", "x509", "-in", certificate[0], "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "IP Address:" in result.stdout
