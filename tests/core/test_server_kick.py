"""ChatServer.kick: the operator closes one client's connection, and it is told why."""

from __future__ import annotations

import socket

from tcpchat import protocol
from tcpchat.server import ChatServer


def _read_until(sock: socket.socket, needle: bytes) -> bytes:
    data = b""
    while needle not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_kick_closes_the_named_client_with_a_reason_and_tells_the_others() -> None:
    with ChatServer("127.0.0.1", 0) as server:
        victim = socket.create_connection(server.address, timeout=10)
        witness = socket.create_connection(server.address, timeout=10)
        _read_until(victim, b"welcome")
        _read_until(witness, b"welcome")
        _read_until(victim, b"joined")  # the witness's arrival: both are seated
        victim_nick, witness_nick = server.nicks()[1:]
        assert server.kick(victim_nick.upper()) is True  # case-insensitive
        told = _read_until(victim, b"\x00")  # everything up to the close
        assert told.endswith(b"* error: kicked by the operator; closing\n")
        others = _read_until(witness, b"left")
        left = protocol.LEFT.format(nick=victim_nick, reason="kicked by the operator")
        assert left.encode() in others
        assert server.nicks() == [protocol.OPERATOR_NICK, witness_nick]
        victim.close()
        witness.close()


def test_kick_of_nobody_or_the_operator_is_refused() -> None:
    with ChatServer("127.0.0.1", 0) as server:
        assert server.kick("Nobody") is False
        assert server.kick(protocol.OPERATOR_NICK) is False
