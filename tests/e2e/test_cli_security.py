"""Security options on the command line: checked before anything listens."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from door_helpers import make_certificate
from harness import ChatProcess, no_traceback

from tcpchat.tls import is_loopback, plaintext_warning

Start = Callable[..., ChatProcess]


def server_args(host: str, *extra: str) -> list[str]:
    return ["server", "--headless", "--host", host, "--port", "9000", *extra]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.45.6.7", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("chat.example", False),
    ],
)
def test_what_counts_as_this_machine_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    warning = plaintext_warning(host, tls=False, password=False)
    assert (warning is None) is loopback


def test_the_warning_names_what_is_exposed_and_the_fix() -> None:
    assert plaintext_warning("0.0.0.0", tls=True, password=True) is None
    warning = plaintext_warning("0.0.0.0", tls=False, password=True)
    assert warning == (
        "warning: listening on 0.0.0.0 without TLS: anyone on the network path can read "
        "the chat and the password; use --tls-cert and --tls-key (see docs/security.md)"
    )


def test_listening_beyond_loopback_without_tls_warns(start_process: Start) -> None:
    # 192.0.2.1 is a documentation address, never this machine's: nothing is bound.
    server = start_process(server_args("192.0.2.1"), name="server")
    assert server.wait() == 2
    assert server.err.lines == [
        "tcpchat: warning: listening on 192.0.2.1 without TLS: anyone on the network path "
        "can read the chat; use --tls-cert and --tls-key (see docs/security.md)",
        "tcpchat: cannot listen on 192.0.2.1:9000: address not available on this machine "
        "(check --host)",
    ]


def test_loopback_without_tls_does_not_warn(server: ChatProcess) -> None:
    assert server.stderr == ""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tls-cert", "cert.pem"], "tcpchat: --tls-cert and --tls-key go together: give both"),
        (["--tls-key", "key.pem"], "tcpchat: --tls-cert and --tls-key go together: give both"),
        (
            ["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"],
            "tcpchat: cannot read TLS certificate /nonexistent/cert.pem: no such file or directory",
        ),
    ],
)
def test_tls_files_are_checked_with_one_line(
    address: tuple[str, int], start_process: Start, extra: list[str], message: str
) -> None:
    server = start_process(server_args(address[0], *extra), name="server")
    assert server.wait() == 2
    assert server.stderr == message


def test_a_key_that_does_not_match_is_named(
    address: tuple[str, int], start_process: Start, tmp_path: Path
) -> None:
    cert, _ = make_certificate(tmp_path, address[0])
    _, other_key = make_certificate(tmp_path, address[0], name="other")
    server = start_process(
        server_args(address[0], "--tls-cert", cert, "--tls-key", other_key), name="server"
    )
    assert server.wait() == 2
    assert server.stderr == f"tcpchat: TLS key {other_key} does not belong to certificate {cert}"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-lines-per-second", "-1"], "'-1' is not a number of at least 0"),
        (["--burst-lines", "2.5"], "'2.5' is not a positive whole number"),
        (["--line-timeout", "soon"], "'soon' is not a number of at least 0"),
        (["--password", "bell\a"], "a password cannot contain control characters"),
    ],
)
def test_bad_limits_and_passwords_are_usage_errors(
    address: tuple[str, int], start_process: Start, extra: list[str], message: str
) -> None:
    server = start_process(server_args(address[0], *extra), name="server")
    assert server.wait() == 2
    assert message in server.stderr
    assert no_traceback(server.stderr)
