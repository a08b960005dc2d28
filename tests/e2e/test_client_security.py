"""The client's TLS and password, as a user at a terminal sees them.

The servers here are a door step (:class:`door_helpers.DoorStep`, the
real :class:`~tcpchat.server.door.Gate` in front of an echo) and ``openssl s_server``,
a TLS server nobody here wrote; the chat server's own wiring is tested in
``test_server_hardening.py``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable, Iterator

import pytest
from door_helpers import DoorStep, door_step, make_certificate
from harness import ChatProcess, no_traceback

from tcpchat import protocol
from tcpchat.server.door import Gate
from tcpchat.tls import server_context

Start = Callable[..., ChatProcess]


def client_args(address: tuple[str, int], *extra: str) -> list[str]:
    return ["client", "--headless", "--host", address[0], "--port", str(address[1]), *extra]


@pytest.fixture
def certificate(tmp_path: Path, address: tuple[str, int]) -> tuple[str, str]:
    return make_certificate(tmp_path, address[0])


def gate(**options: object) -> Gate:
    made = Gate(**options)  # type: ignore[arg-type]
    made.wrong_password_delay = 0
    return made


@pytest.fixture
def tls_door(address: tuple[str, int], certificate: tuple[str, str]) -> Iterator[DoorStep]:
    with door_step(gate(tls=server_context(*certificate), password="s3cret"), address[0]) as step:
        yield step


def test_tls_and_password_from_the_command_line(
    tls_door: DoorStep, certificate: tuple[str, str], start_process: Start
) -> None:
    client = start_process(
        client_args(tls_door.address, "--cafile", certificate[0], "--password", "s3cret"),
        name="client",
    )
    client.wait_for_output(r"^\* password accepted$")
    client.wait_for_output(r"^\* welcome$")
    client.send_line("over TLS")
    client.wait_for_output(r"^echo: over TLS$")
    client.close_stdin()
    assert client.wait() == 0
    assert no_traceback(client.stderr)


def test_the_password_can_come_from_the_environment(
    tls_door: DoorStep, certificate: tuple[str, str], start_process: Start
) -> None:
    client = start_process(
        client_args(tls_door.address, "--tls", "--cafile", certificate[0]),
        env={"TCPCHAT_PASSWORD": "s3cret"},
        name="client",
    )
    client.wait_for_output(r"^\* password accepted$")


@pytest.mark.parametrize("reconnect", [[], ["--reconnect"]])
def test_a_wrong_password_is_refused_clearly_and_not_retried(
    tls_door: DoorStep, certificate: tuple[str, str], start_process: Start, reconnect: list[str]
) -> None:
    args = client_args(tls_door.address, "--cafile", certificate[0], "--password", "guess")
    client = start_process([*args, *reconnect], name="client")
    client.wait_for_output(r"^\* error: wrong password; closing$")
    assert client.wait() == 1
    assert client.stderr == (
        "tcpchat: connection lost: refused: wrong password ({}:{})".format(*tls_door.address)
    )
    assert "reconnecting" not in client.stdout


def test_a_plain_text_client_on_a_tls_server_is_told_not_left_hanging(
    address: tuple[str, int], certificate: tuple[str, str], start_process: Start
) -> None:
    tls_only = gate(tls=server_context(*certificate), timeout=0.5)
    with door_step(tls_only, address[0]) as step:
        client = start_process(client_args(step.address), name="client")  # says nothing first
        client.wait_for_output("^" + re.escape(protocol.format_notice(protocol.TLS_REQUIRED)))
        assert client.wait() == 1
        assert client.stderr.startswith("tcpchat: connection lost: refused: this server speaks TLS")


def test_an_untrusted_certificate_is_one_line_with_the_fix(
    tls_door: DoorStep, start_process: Start
) -> None:
    client = start_process(client_args(tls_door.address, "--tls"), name="client")
    assert client.wait() == 1
    assert client.stderr == (
        f"tcpchat: cannot connect to {tls_door.address[0]}:{tls_door.address[1]}: TLS: the "
        "server's certificate is not trusted (self-signed certificate): if you trust it, "
        "pass it with --cafile"
    )


def test_tls_to_a_plain_server_says_so(
    server: ChatProcess, address: tuple[str, int], start_process: Start
) -> None:
    client = start_process(client_args(address, "--tls"), name="client")
    assert client.wait() == 1
    assert client.stderr.endswith("TLS: the other side does not speak TLS (leave out --tls?)")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cafile", "/nonexistent/ca.pem"], "cannot read --cafile /nonexistent/ca.pem: no such"),
        (["--password", " padded"], "cannot start or end with a space"),
    ],
)
def test_bad_client_security_options_are_one_line(
    address: tuple[str, int], start_process: Start, extra: list[str], message: str
) -> None:
    client = start_process(client_args(address, *extra), name="client")
    assert client.wait() in (1, 2)
    assert message in client.stderr
    assert no_traceback(client.stderr)
    assert len(client.stderr.splitlines()) <= 2  # argparse adds its usage line


def test_the_client_chats_with_openssl_s_server(
    address: tuple[str, int], certificate: tuple[str, str], start_process: Start
) -> None:
    """Interop: a TLS server nobody here wrote, played by hand through its stdin."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    host, port = address
    command = [openssl, "s_server", "-accept", f"{host}:{port}", "-naccept", "1"]
    command += ["-cert", certificate[0], "-key", certificate[1]]
    s_server = start_process([], command=command, name="s_server")
    s_server.wait_for_output("^ACCEPT$")
    args = client_args(address, "--cafile", certificate[0], "--nick", "tls")
    client = start_process(args, name="client")
    # Speak only once s_server has read from us: typed into it before its side of
    # the handshake is done, s_server can stall (its own race, not the client's).
    s_server.wait_for_output("^/hello tls$")
    s_server.send_line("* welcome, you are tls; type /help for the commands")
    client.wait_for_output(r"^\* welcome, you are tls;")
    s_server.send_line("Server: hello over TLS")
    client.wait_for_output("^Server: hello over TLS$")
    client.send_line("and back")
    s_server.wait_for_output("^and back$")
