"""The server's defences through the command line: TLS, the password and the limit flags."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest
from door_helpers import make_certificate
from harness import ChatProcess, RawPeer, no_traceback

Start = Callable[..., ChatProcess]


@pytest.fixture
def certificate(tmp_path: Path, address: tuple[str, int]) -> tuple[str, str]:
    return make_certificate(tmp_path, address[0])


# -- the command line ------------------------------------------------------------


def test_tls_and_password_from_the_command_line_with_s_client_too(
    address: tuple[str, int], certificate: tuple[str, str], start_process: Start
) -> None:
    host, port = address
    cert, key = certificate
    server = start_process(
        ["server", "--headless", "--host", host, "--port", str(port), "--tls-cert", cert,
         "--tls-key", key, "--password", "s3cret"],
        name="server",
    )  # fmt: skip
    server.wait_for_output("^listening on ")
    client_args = ["client", "--headless", "--host", host, "--port", str(port)]
    client = start_process([*client_args, "--cafile", cert, "--password", "s3cret"], name="client")
    client.wait_for_output(r"^\* welcome, you are Client;")
    openssl = shutil.which("openssl")
    if openssl is not None:  # a TLS client nobody here wrote
        command = [openssl, "s_client", "-connect", f"{host}:{port}", "-CAfile", cert]
        command += ["-verify_return_error", "-quiet", "-nocommands"]
        s_client = start_process([], command=command, name="s_client")
        s_client.wait_for_output(r"^\* password required")
        s_client.send_line("/pass s3cret")
        s_client.wait_for_output(r"^\* welcome, you are Client2;")
        s_client.send_line("hello from openssl")
        client.wait_for_output("^Client2: hello from openssl$")
    plain = start_process(client_args, name="plain")
    assert plain.wait() == 1
    assert "refused: this server speaks TLS only" in plain.stderr
    wrong = start_process([*client_args, "--cafile", cert, "--password", "guess"], name="wrong")
    wrong.wait_for_output(r"^\* error: wrong password; closing$")
    assert wrong.wait() == 1
    assert no_traceback(server.stderr, client.stderr, plain.stderr, wrong.stderr)


def test_limit_flags_reach_the_server(address: tuple[str, int], start_process: Start) -> None:
    host, port = address
    server = start_process(
        [
            "server",
            "--headless",
            "--host",
            host,
            "--port",
            str(port),
            "--max-per-address",
            "1",
            "--limit-loopback",
        ],
        name="server",
    )
    server.wait_for_output("^listening on ")
    first = RawPeer(host, port)
    first.expect_line(r"^\* welcome")
    second = RawPeer(host, port)
    assert "too many connections" in second.expect_line(r"^\* error: ")
    server.wait_for_output(r"refused .*: too many connections from 127\.0\.0\.1$")
    first.close()
    second.close()
