"""Fixtures the core tests share."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from tcpchat.server import ChatServer


@pytest.fixture
def serve(address: tuple[str, int]) -> Iterator[Callable[..., ChatServer]]:
    """Start a ChatServer on this test's address with the given options; stopped at the end."""
    servers: list[ChatServer] = []

    def start(**options: object) -> ChatServer:
        server = ChatServer(*address, **options)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
