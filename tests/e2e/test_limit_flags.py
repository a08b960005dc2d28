"""Every flag of ``tcpchat server --help`` reaches a real server with a visible effect.

One parametrized end-to-end case per flag (issue 16): each sets a value no
default has, and checks what only that value explains (a limit of 2, a grace
of 1 s, …), so a flag that stops reaching the server fails its case.  Also the
operator's ``--nick``, ``TCPCHAT_PASSWORD`` and ``--tls-cert``/``--tls-key``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

import pytest
from harness import ChatProcess, RawPeer, joined_peer
from tls_certs import make_certificate

pytestmark = pytest.mark.e2e

Start = Callable[..., ChatProcess]


def flood_until_closed(peer: RawPeer, seconds: float) -> bool:
    """Send a line every 50 ms until the server hangs up (True) or *seconds* pass."""
    end = time.monotonic() + seconds
    number = 0
    while time.monotonic() < end:
        if peer.inbox.closed:
            return True
        try:
            peer.send_line(f"flood {number}")
        except OSError:
            return True
        number += 1
        with peer.inbox.changed:
            peer.inbox.changed.wait(0.05)
    return peer.inbox.closed


def check_max_clients(address: tuple[str, int]) -> None:
    first, second = joined_peer(address), joined_peer(address)
    third = RawPeer(*address)
    assert third.expect_line(r"^\* error") == ("* error: server full (2 clients); try again later")
    third.wait_closed()
    for peer in (first, second, third):
        peer.close()


def check_max_line_bytes(address: tuple[str, int]) -> None:
    peer = joined_peer(address)
    peer.send_line("0123456789")  # exactly the limit: passes
    assert peer.expect_line("^Client: ") == "Client: 0123456789"
    peer.send_line("0123456789A")  # one byte more: refused
    assert peer.expect_line(r"^\* error") == (
        "* error: line too long (over 10 bytes); it is discarded up to its end"
    )
    peer.close()


def check_max_lines_per_second(address: tuple[str, int]) -> None:
    peer = joined_peer(address)
    peer.send_bytes(b"".join(b"line %d\n" % n for n in range(101)))  # one over the burst
    assert peer.expect_line(r"^\* error: slow down").startswith(
        "* error: slow down: over 2 lines a second;"
    )
    peer.close()


def check_burst_lines(address: tuple[str, int]) -> None:
    peer = joined_peer(address)
    peer.send_bytes(b"".join(b"paste %d\n" % n for n in range(8)))  # a paste of 8 lines
    peer.expect_line(r"^\* error: slow down")
    chat = [line for line in peer.lines if line.startswith("Client: paste")]
    # Five pass at once (the default burst would pass all eight).
    assert chat == [f"Client: paste {n}" for n in range(5)]
    peer.close()


def check_flood_grace(address: tuple[str, int]) -> None:
    peer = joined_peer(address)
    assert "after 1 s more of this you are disconnected" in flood_and_warning(peer)
    assert flood_until_closed(peer, 6.0), "still connected 6 s into a flood with a 1 s grace"
    assert any(line.startswith("* error: flooding") for line in peer.lines), peer.lines
    peer.close()


def flood_and_warning(peer: RawPeer) -> str:
    peer.send_bytes(b"".join(b"burst %d\n" % n for n in range(3)))
    return peer.expect_line(r"^\* error: slow down")


def check_max_per_address(address: tuple[str, int]) -> None:
    first = joined_peer(address)
    second = RawPeer(*address)
    # The source address is the loopback the kernel picked, not necessarily the server's.
    assert re.fullmatch(
        r"\* error: too many connections from 127\.[\d.]+ \(at most 1\); close one and try again",
        second.expect_line(r"^\* error"),
    )
    second.wait_closed()
    first.close()
    second.close()


def check_handshake_timeout(address: tuple[str, int]) -> None:
    peer = RawPeer(*address)
    peer.expect_line(r"^\* password required")
    started = time.monotonic()
    peer.wait_closed(timeout=6)  # the default is 10 s: only the flag explains closing by 6
    assert time.monotonic() - started >= 0.9
    assert peer.lines[-1].startswith("* error: this server needs a password")
    peer.close()


def check_line_timeout(address: tuple[str, int]) -> None:
    peer = joined_peer(address)
    peer.send_bytes(b"never ends")
    assert peer.expect_line(r"^\* error", timeout=6) == (
        "* error: timed out: a line was left unfinished for 1 s; closing"
    )
    peer.wait_closed()
    peer.close()


def check_idle_timeout(address: tuple[str, int]) -> None:
    peer = joined_peer(address)
    assert peer.expect_line(r"^\* error", timeout=6) == "* error: timed out: idle for 1 s; closing"
    peer.wait_closed()
    peer.close()


@dataclass(frozen=True)
class Flag:
    args: tuple[str, ...]
    check: Callable[[tuple[str, int]], None]
    env: tuple[tuple[str, str], ...] = ()


FLAGS = {
    "--max-clients": Flag(("--max-clients", "2"), check_max_clients),
    "--max-line-bytes": Flag(("--max-line-bytes", "10"), check_max_line_bytes),
    "--max-lines-per-second": Flag(("--max-lines-per-second", "2"), check_max_lines_per_second),
    # A refill of one line per 100 s: however slow the machine, no sixth line passes.
    "--burst-lines": Flag(
        ("--burst-lines", "5", "--max-lines-per-second", "0.01"), check_burst_lines
    ),
    "--flood-grace": Flag(
        ("--flood-grace", "1", "--burst-lines", "2", "--max-lines-per-second", "1"),
        check_flood_grace,
    ),
    "--max-per-address": Flag(("--max-per-address", "1"), check_max_per_address),
    "--handshake-timeout": Flag(
        ("--handshake-timeout", "1", "--password", "secret"), check_handshake_timeout
    ),
    "--line-timeout": Flag(("--line-timeout", "1"), check_line_timeout),
    "--idle-timeout": Flag(("--idle-timeout", "1"), check_idle_timeout),
}


@pytest.mark.parametrize("flag", list(FLAGS))
def test_each_limit_flag_reaches_the_server(
    flag: str, address: tuple[str, int], start_process: Start
) -> None:
    spec = FLAGS[flag]
    host, port = address
    server = start_process(
        ["server", "--headless", "--host", host, "--port", str(port), *spec.args],
        name="server",
        env=dict(spec.env),
    )
    server.wait_for_output(r"^listening on ")
    spec.check(address)


def test_the_limit_flags_are_exactly_those_of_the_help(start_process: Start) -> None:
    """A new limit flag without a case above fails here."""
    helper = start_process(["server", "--help"], name="help")
    assert helper.wait() == 0
    section = helper.stdout.split("security and limits:", 1)[1].split("\noperator commands", 1)[0]
    flags = {word for word in section.split() if word.startswith("--")}
    limits = flags - {"--tls-cert", "--tls-key", "--password"}
    assert limits | {"--max-clients", "--max-line-bytes"} == set(FLAGS)


def test_the_operators_nick_names_the_server_in_chat_and_who(
    address: tuple[str, int], start_process: Start
) -> None:
    host, port = address
    server = start_process(
        ["server", "--headless", "--host", host, "--port", str(port), "--nick", "Boss"],
        name="server",
    )
    server.wait_for_output(r"^listening on ")
    peer = joined_peer(address)
    peer.send_line("/who")
    assert peer.expect_line(r"^\* online: ") == "* online: Boss, Client"
    server.send_line("hello from the desk")
    assert peer.expect_line("^Boss: ") == "Boss: hello from the desk"
    peer.send_line("/nick Boss")  # the operator's name is taken
    assert "Boss is already taken" in peer.expect_line(r"^\* error")
    peer.close()


def test_the_servers_password_can_come_from_the_environment(
    address: tuple[str, int], start_process: Start
) -> None:
    host, port = address
    server = start_process(
        ["server", "--headless", "--host", host, "--port", str(port)],
        name="server",
        env={"TCPCHAT_PASSWORD": "from env"},
    )
    server.wait_for_output(r"^listening on ")
    peer = RawPeer(*address)
    peer.expect_line(r"^\* password required")
    peer.send_line("/pass from env")
    assert peer.expect_line(r"^\* password accepted")
    peer.expect_line(r"^\* welcome, you are Client")
    peer.close()
    wrong = RawPeer(*address)
    wrong.expect_line(r"^\* password required")
    wrong.send_line("/pass not it")
    assert wrong.expect_line(r"^\* error") == "* error: wrong password; closing"
    wrong.close()


def test_tls_cert_and_key_make_the_server_speak_tls_only(
    tmp_path: object, address: tuple[str, int], start_process: Start
) -> None:
    cert, key = make_certificate(tmp_path, f"IP:{address[0]}")  # type: ignore[arg-type]
    host, port = address
    tls = ("--tls-cert", cert, "--tls-key", key)
    server = start_process(
        [*("server", "--headless", "--host", host, "--port", str(port)), *tls],
        name="server",
    )
    server.wait_for_output(r"^listening on ")
    plain = RawPeer(*address)
    plain.send_line("hello?")
    assert plain.expect_line(r"^\* error") == (
        "* error: this server speaks TLS only: connect with tcpchat client --tls; closing"
    )
    plain.close()
    client = start_process(
        ["client", "--headless", "--host", host, "--port", str(port), "--cafile", cert],
        name="client",
    )
    client.wait_for_output(r"^\* welcome, you are ")
    client.close_stdin()
    assert client.wait() == 0
