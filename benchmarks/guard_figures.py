"""Figures for the guard (issues 11 and 15): paste time, stop during a TLS handshake, churn.

Run from a checkout: ``PYTHONPATH=$PWD python3 -m benchmarks.guard_figures [seconds]``.
Works against older code too (fields it lacks are left out), for before/after.
Loopback only; each figure is one run, so read them as orders of magnitude.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

from tcpchat.guard import Limits
from tcpchat.server import ChatServer

HOST = "127.0.0.1"


def limits(**fields: object) -> Limits:
    known = {field.name for field in dataclasses.fields(Limits)}
    return Limits(**{k: v for k, v in fields.items() if k in known})  # type: ignore[arg-type]


def reader(address: tuple[str, int]) -> tuple[socket.socket, list[int], threading.Event]:
    """A passive client counting chat lines from others (not notices)."""
    sock = socket.create_connection(address)
    count = [0]
    done = threading.Event()

    def pump() -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                count[0] += sum(not line.startswith(b"* ") for line in lines)
        done.set()

    threading.Thread(target=pump, daemon=True).start()
    return sock, count, done


def paste_seconds(port: int, lines: int, **fields: object) -> float:
    with ChatServer(HOST, port, limits=limits(**fields)) as server:
        watcher, count, _ = reader(server.address)
        paster = socket.create_connection(server.address)
        paster.recv(4096)
        started = time.monotonic()
        paster.sendall(b"".join(b"paste %d\n" % n for n in range(lines)))
        while count[0] < lines and time.monotonic() - started < 120:
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        if count[0] < lines:
            print(f"  only {count[0]} of {lines} lines arrived in {elapsed:.0f} s")
        paster.close()
        watcher.close()
    return elapsed


def stop_seconds_during_tls_handshake(port: int, handshake_seconds: float) -> float:
    from tcpchat.tls import server_context
    from tests.tls_certs import make_certificate

    with tempfile.TemporaryDirectory() as folder:
        cert, key = make_certificate(Path(folder), f"IP:{HOST}", "server")
        server = ChatServer(
            HOST,
            port,
            tls=server_context(cert, key),
            limits=limits(handshake_seconds=handshake_seconds),
        )
        server.start()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing)
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        sock = socket.create_connection(server.address)
        sock.sendall(outgoing.read())
        sock.recv(65536)  # the server is inside do_handshake() now
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
        sock.close()
    return elapsed


def churn(port: int, seconds: float, lines: int, **fields: object) -> tuple[float, float]:
    """Connect, send *lines* lines, reset, repeat: (chat lines/s, join+leave notices/s) seen."""
    with ChatServer(HOST, port, limits=limits(**fields)) as server:
        watcher = socket.create_connection(server.address, source_address=("127.0.0.2", 0))
        counts = {"chat": 0, "notices": 0}

        def pump() -> None:
            buffer = b""
            with contextlib.suppress(OSError):
                while data := watcher.recv(65536):
                    buffer += data
                    *got, buffer = buffer.split(b"\n")
                    for line in got:
                        if line.endswith((b" joined",)) or b" left (" in line:
                            counts["notices"] += 1
                        elif not line.startswith(b"* "):
                            counts["chat"] += 1

        threading.Thread(target=pump, daemon=True).start()
        payload = b"".join(b"churn line %d\n" % n for n in range(lines))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                sock = socket.create_connection(server.address, 5)
                if payload:
                    sock.sendall(payload)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            except OSError:
                pass
        chat, notices = counts["chat"], counts["notices"]
        watcher.close()
    return chat / seconds, notices / seconds


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 15.0
    port = 9700
    print(f"500-line paste, default limits, loopback: {paste_seconds(port, 500):.2f} s")
    print(
        "500-line paste, default limits, limit_loopback=True: "
        f"{paste_seconds(port + 1, 500, limit_loopback=True):.2f} s"
    )
    print(
        "stop() during a stalled TLS handshake (handshake timeout 10 s): "
        f"{stop_seconds_during_tls_handshake(port + 2, 10.0):.3f} s"
    )
    chat, notices = churn(port + 3, seconds, 100, limit_loopback=True)
    print(
        f"churn 100 lines/connection for {seconds:g} s: {chat:.0f} lines/s, {notices:.0f} notices/s"
    )
    chat, notices = churn(port + 4, seconds, 0, limit_loopback=True)
    print(f"connect-and-close for {seconds:g} s: {chat:.0f} lines/s, {notices:.0f} notices/s")


if __name__ == "__main__":
    main()
