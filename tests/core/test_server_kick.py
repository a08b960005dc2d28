"""ChatServer.kick: the operator closes one client's connection, and it is told why."""

from __future__ import annotations

import socket
from typing import BinaryIO

from tcpchat import protocol
from tcpchat.server import ChatServer


def _lines_until(reader: BinaryIO, last: str) -> list[str]:
    """Lines read up to and including *last* (or up to the end of the stream)."""
    lines = []
    for raw in reader:
        lines.append(raw.decode().rstrip("\n"))
        if lines[-1] == last:
            break
    return lines


def test_kick_closes_the_named_client_with_a_reason_and_tells_the_others() -> None:
    with ChatServer("127.0.0.1", 0) as server:
        victim = socket.create_connection(server.address, timeout=10)
        victim_in = victim.makefile("rb")
        victim_nick = _welcomed_as(victim_in)
        witness = socket.create_connection(server.address, timeout=10)
        witness_in = witness.makefile("rb")
        witness_nick = _welcomed_as(witness_in)
        _lines_until(victim_in, f"* {witness_nick} joined")  # both are seated

        assert server.kick(victim_nick.upper()) is True  # case-insensitive
        told = _lines_until(victim_in, "never: read to the end")
        assert told[-1] == "* " + protocol.CLOSING.format(reason="kicked by the operator")
        left = "* " + protocol.LEFT.format(nick=victim_nick, reason="kicked by the operator")
        assert _lines_until(witness_in, left)[-1] == left
        assert server.nicks() == [protocol.OPERATOR_NICK, witness_nick]
        for sock in (victim, witness):
            sock.close()


def test_kick_of_nobody_or_the_operator_is_refused() -> None:
    with ChatServer("127.0.0.1", 0) as server:
        assert server.kick("Nobody") is False
        assert server.kick(protocol.OPERATOR_NICK) is False


def _welcomed_as(reader: BinaryIO) -> str:
    welcome = reader.readline().decode().rstrip("\n").removeprefix("* ")
    fields = protocol.WELCOME.parse(welcome)
    assert fields is not None, welcome
    return fields["nick"]
