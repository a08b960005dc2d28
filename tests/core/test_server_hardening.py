"""The chat server's defences, in process on loopback: flood, per-address limit, slowloris,
TLS, password.  The same through the command line: ``tests/e2e/test_server_security_cli.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from door_helpers import make_certificate
from harness import ChatProcess, RawPeer, joined_peer

from tcpchat import events, protocol
from tcpchat.client import ChatClient
from tcpchat.guard import Limits
from tcpchat.server import ChatServer
from tcpchat.tls import client_context, server_context

Start = Callable[..., ChatProcess]
TIMEOUT = 15.0


@pytest.fixture
def certificate(tmp_path: Path, address: tuple[str, int]) -> tuple[str, str]:
    return make_certificate(tmp_path, address[0])


def server_threads() -> set[threading.Thread]:
    """The threads a server started: each carries a ``tcpchat-`` name."""
    return {t for t in threading.enumerate() if t.name.startswith("tcpchat-")}


def joined(server: ChatServer) -> RawPeer:
    return joined_peer(server.address)


def greeting_from(server: ChatServer, source: str) -> bytes:
    """The first line a connection from loopback address *source* (another machine) gets."""
    with socket.create_connection(server.address, TIMEOUT, source_address=(source, 0)) as sock:
        return sock.makefile("rb").readline()


def test_the_limits_are_on_by_default() -> None:
    assert ChatServer.limits == Limits()
    assert Limits().lines_per_second > 0
    assert Limits().max_connections_per_address > 0


# -- flood control -------------------------------------------------------------


def test_a_paste_over_the_burst_is_paced_not_cut(serve: Callable[..., ChatServer]) -> None:
    # Lines over the rate are held back and relayed at it (issue 11): more in test_pacing.py.
    limits = Limits(lines_per_second=50, burst_lines=10, limit_loopback=True)
    server = serve(limits=limits)
    paster, witness = joined(server), joined(server)
    paster.send_bytes(b"".join(f"paste {i}\n".encode() for i in range(30)))
    assert "slow down" in paster.expect_line(r"^\* slow down")
    witness.expect_line("^Client: paste 29$")
    relayed = [line for line in witness.lines if line.startswith("Client: ")]
    assert relayed == [f"Client: paste {i}" for i in range(30)]
    witness.send_line("mark")
    paster.expect_line("^Client2: mark$")  # still connected, still hearing the room
    assert sum("slow down" in line for line in paster.lines) == 1  # counted once all is in


# -- connections per address ----------------------------------------------------


def test_one_address_cannot_take_every_seat(
    serve: Callable[..., ChatServer], address: tuple[str, int]
) -> None:
    server = serve(limits=Limits(max_connections_per_address=2, limit_loopback=True))
    first, _second = joined(server), joined(server)
    third = RawPeer(*server.address)
    assert third.expect_line(r"^\* error: ") == (
        "* error: too many connections from 127.0.0.1 (at most 2); close one and try again"
    )
    third.wait_closed()
    other_machine = address[0].rsplit(".", 1)[0] + ".250"
    assert greeting_from(server, other_machine).startswith(b"* welcome")  # others still get in
    first.close()
    _second.expect_line(r"^\* Client left")
    # The seat is given back once the server has closed its end, just after the
    # notice: ask until it is (each try waits for the server's answer), for as long as a
    # loaded machine may keep first's reader from its cleanup (50 tries can take 50 ms).
    deadline = time.monotonic() + TIMEOUT
    while not greeting_from(server, "127.0.0.1").startswith(b"* welcome"):
        assert time.monotonic() < deadline, "the freed seat was never given back"


# -- slowloris and idle ----------------------------------------------------------


def test_an_unfinished_line_times_out_and_a_quiet_reader_stays(
    serve: Callable[..., ChatServer],
) -> None:
    server = serve(limits=Limits(line_seconds=0.3))
    lurker, slow = joined(server), joined(server)
    slow.send_bytes(b"half a li")
    assert slow.expect_line(r"^\* error: ") == (
        "* error: timed out: a line was left unfinished for 0.3 s; closing"
    )
    slow.wait_closed()
    lurker.expect_line(r"^\* Client2 left \(timed out: a line was left unfinished")
    server.say("still here?")
    lurker.expect_line(r"^Server: still here\?$")


def test_the_idle_timeout_closes_silent_connections(serve: Callable[..., ChatServer]) -> None:
    server = serve(limits=Limits(idle_seconds=0.3))
    silent = joined(server)
    assert silent.expect_line(r"^\* error: ") == "* error: timed out: idle for 0.3 s; closing"
    silent.wait_closed()


# -- the password --------------------------------------------------------------


def test_no_chat_reaches_a_connection_without_the_password(
    serve: Callable[..., ChatServer],
) -> None:
    server = serve(password="s3cret", limits=Limits(handshake_seconds=0))
    member = RawPeer(*server.address)
    member.send_line("/pass s3cret")
    member.expect_line(r"^\* welcome, you are Client;")
    stranger = RawPeer(*server.address)
    stranger.expect_line(r"^\* password required")
    member.send_line("secret plans")
    member.expect_line("^Client: secret plans$")
    member.send_line("/who")
    assert member.expect_line(r"^\* online: ") == "* online: Server, Client"  # not the stranger
    stranger.send_line("/pass guess")
    stranger.wait_closed()
    assert stranger.lines == [
        protocol.format_notice(protocol.PASSWORD_PROMPT),
        protocol.format_notice(protocol.PASSWORD_WRONG),
    ]
    member.send_line("after the guess")  # a fence: a join of the stranger would be before it
    member.expect_line("^Client: after the guess$")
    assert [line for line in member.lines if "joined" in line] == ["* Client joined"]


def test_stop_refuses_those_still_at_the_door_and_leaves_no_thread(
    address: tuple[str, int],
) -> None:
    before = server_threads()  # only the threads a server names: not the test run's own
    server = ChatServer(*address, password="s3cret", limits=Limits(handshake_seconds=0))
    server.start()
    waiting = [RawPeer(*server.address) for _ in range(3)]
    for peer in waiting:
        peer.expect_line(r"^\* password required")
    server.stop()
    for peer in waiting:
        peer.wait_closed()
        peer.close()
    assert server_threads() - before == set()


# -- TLS ------------------------------------------------------------------------


def test_tls_clients_chat_and_a_plain_one_is_told(
    serve: Callable[..., ChatServer], certificate: tuple[str, str]
) -> None:
    server = serve(tls=server_context(*certificate))
    received: list[events.Event] = []
    alice = ChatClient(*server.address, nick="alice", tls=client_context(certificate[0]))
    bob = ChatClient(*server.address, nick="bob", tls=client_context(certificate[0]))
    got_it = threading.Event()
    bob.add_observer(lambda e: (received.append(e), isinstance(e, events.Message) and got_it.set()))
    alice.connect()
    bob.connect()
    plain = RawPeer(*server.address)
    plain.send_line("hello?")
    assert plain.expect_line(r"^\* error: ") == protocol.format_notice(protocol.TLS_REQUIRED)
    alice.send("over TLS")
    assert got_it.wait(TIMEOUT)
    assert any(isinstance(e, events.Message) and e.text == "over TLS" for e in received)
    alice.close()
    bob.close()
