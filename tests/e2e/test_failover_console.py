"""The terminal client with several servers: what it says, and the back-off after a round.

The command line's ``--server`` is the lead's to wire (``tcpchat.cli``); until
then these run the same terminal front end (:func:`tcpchat.console.run_client`
with ``reconnect=True``) in a real process through a few lines of Python,
with the ChatClient the CLI will make (``ChatClient(servers=[...])``).

* Losing one server: the client says ``* reconnected to HOST:PORT`` (the
  existing text) for the next one, with no back-off line before it, and
  resumes there: Bob's line from while it was away is shown once.
* No server answering: one line names each, then the usual back-off
  (``reconnecting in 1 s``), then the welcome once a server is up.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from typing import Callable

import pytest
from harness import ChatProcess, joined_peer
from tcp_proxy import TcpProxy

from tcpchat.errors import format_address
from tcpchat.server import ChatServer

Start = Callable[..., ChatProcess]

CLIENT = """
import sys
from tcpchat import console
from tcpchat.client import ChatClient
from tcpchat.client.servers import parse_server
servers = [parse_server(text) for text in sys.argv[1:]]
sys.exit(console.run_client(
    lambda nick: ChatClient(servers=servers, nick=nick), nick="Eve", reconnect=True,
    stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr,
))
"""


def start_eve(start_process: Start, *servers: tuple[str, int]) -> ChatProcess:
    addresses = [format_address(*server) for server in servers]
    return start_process([], command=[sys.executable, "-c", CLIENT, *addresses], name="eve")


@pytest.fixture
def chat_server(address: tuple[str, int]) -> Iterator[ChatServer]:
    server = ChatServer(*address)
    server.start()
    yield server
    server.stop()


def refusing(host: str) -> socket.socket:
    """A port that refuses connections: bound (so no one else takes it), not listening."""
    holder = socket.socket()
    holder.bind((host, 0))
    return holder


def test_losing_a_server_says_which_one_it_is_on_now_and_waits_for_nothing(
    chat_server: ChatServer, address: tuple[str, int], start_process: Start
) -> None:
    with TcpProxy(address, address[0]) as first, TcpProxy(address, address[0]) as second:
        eve = start_eve(start_process, first.address, second.address)
        eve.wait_for_output(r"^\* welcome, you are Eve;")
        bob = joined_peer(address)
        eve.send_line("hello")
        bob.expect_line(r"^Eve: hello$")
        eve.wait_for_output(r"^Eve: hello$")
        first.refuse()
        first.cut()
        bob.send_line("while away")
        bob.expect_line(r"^Client: while away$")  # in the room before Eve's "back", so heard
        eve.wait_for_output(rf"^\* reconnected to {re.escape(format_address(*second.address))}$")
        eve.wait_for_output(r"^\* welcome back, you are Eve; \d+ lines you missed follow$")
        eve.send_line("back")
        bob.expect_line(r"^Eve: back$")
        eve.wait_for_output(r"^Eve: back$")
        eve.close_stdin()
        assert eve.wait() == 0
    assert "reconnecting in" not in eve.stdout
    assert eve.out.lines.count("Client: while away") == 1
    assert eve.stderr == ""


def test_a_round_where_no_server_answers_backs_off_then_connects(
    address: tuple[str, int], start_process: Start
) -> None:
    first, second = refusing(address[0]), refusing(address[0])
    first_address, second_address = first.getsockname()[:2], second.getsockname()[:2]
    eve = start_eve(start_process, first_address, second_address)
    eve.wait_for_output(
        rf"^\* cannot connect to {re.escape(format_address(*first_address))}: [^;]+; "
        rf"cannot connect to {re.escape(format_address(*second_address))}: [^;]+; "
        r"reconnecting in 1 s$"
    )
    second.close()
    server = ChatServer(*second_address)
    server.start()
    try:
        eve.wait_for_output(r"^\* welcome, you are Eve;")
        eve.close_stdin()
        assert eve.wait() == 0
    finally:
        server.stop()
        first.close()
    assert eve.stderr == ""
