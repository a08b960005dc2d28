"""streams.close: an abortive close resets the peer, an orderly one ends its stream."""

from __future__ import annotations

import socket

import pytest

from tcpchat.streams import close


@pytest.mark.parametrize("reset", [True, False])
def test_a_reset_close_fails_the_peer_at_once_and_an_orderly_one_ends_its_stream(
    reset: bool,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname(), timeout=10)
        ours, _ = listener.accept()
        close(ours, reset=reset)
        with peer:
            if reset:
                with pytest.raises(ConnectionResetError):
                    peer.recv(100)
            else:
                assert peer.recv(100) == b""  # an orderly end of stream
