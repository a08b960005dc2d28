"""Helpers for the TLS and password tests: throwaway certificates and a door-step server.

Certificates are made at test time with the ``openssl`` command, for the
test's own loopback address, and deleted with the test's temporary folder:
no private key is ever committed.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from pathlib import Path
from typing import Iterator, Union

import tls_certs

from tcpchat import protocol
from tcpchat.server.door import Gate, Refused
from tcpchat.streams import Stream

Outcome = Union[Stream, Refused]


def make_certificate(folder: Path, host: str, name: str = "server") -> tuple[str, str]:
    """A self-signed certificate valid for *host* (an IP address): (cert path, key path)."""
    return tls_certs.make_certificate(folder, f"IP:{host}", name)


class DoorStep:
    """A listener whose connections go through a :class:`Gate`, then echo each line.

    What a real server does after the gate is not the point here; the echo
    (``echo: LINE``) proves the stream works both ways, and that the gate took
    nothing after the password line.
    """

    def __init__(self, gate: Gate, host: str) -> None:
        self.gate = gate
        self.listener = socket.create_server((host, 0))
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self.outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def serve(self, count: int = 1) -> None:
        """Accept *count* connections, each on its own thread."""
        for _ in range(count):
            thread = threading.Thread(target=self._serve_one, daemon=True)
            thread.start()
            self._threads.append(thread)

    def outcome(self, timeout: float = 15.0) -> Outcome:
        return self.outcomes.get(timeout=timeout)

    def _serve_one(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:  # closed before anyone came
            return
        try:
            stream = self.gate.open(sock)
        except Refused as refusal:
            self.outcomes.put(refusal)
            return
        self.outcomes.put(stream)
        buffer = protocol.LineBuffer()
        with contextlib.suppress(OSError):
            stream.sendall(b"* welcome\n")
            while data := stream.recv(65536):
                for frame in buffer.feed(data):
                    if isinstance(frame, protocol.Line):
                        stream.sendall(protocol.encode_line(f"echo: {frame.text}"))
            stream.shutdown(socket.SHUT_RDWR)
        stream.close()

    def close(self, timeout: float = 15.0) -> None:
        self.gate.abort()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes a thread still in accept()
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout)


@contextlib.contextmanager
def door_step(gate: Gate, host: str, count: int = 1) -> Iterator[DoorStep]:
    step = DoorStep(gate, host)
    step.serve(count)
    try:
        yield step
    finally:
        step.close()
