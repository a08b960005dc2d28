"""Lossless resume, end to end: a real terminal client cut off again and again.

Eve runs ``tcpchat client --headless --reconnect --nick Eve`` through a
:class:`TcpProxy`; the others are raw sockets straight to the server.  The
proxy resets Eve's connection while everyone (Eve too, on stdin) keeps
talking.  At the end Eve's chat lines must be exactly everyone else's: no
gap (the replay of what she missed), no duplicate (the replay starts where
she was), and each of her own lines once (sent again only if its echo
never came; held while disconnected and sent after the resume).  The second
test does the same across a SIGKILL of the server and a restart on the same
``--store``.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Callable

from harness import ChatProcess, RawPeer
from tcp_proxy import TcpProxy

Start = Callable[..., ChatProcess]
CHAT = re.compile(r"^[^\s*|(~][^\s]*: ")
"""A chat line on a console or a socket (not a notice, history or pending line)."""
CUTS = 4


def start_server(start_process: Start, address: tuple[str, int], *extra: str) -> ChatProcess:
    server = start_process(
        ["server", "--headless", "--host", address[0], "--port", str(address[1]), *extra],
        name="server",
    )
    server.wait_for_output("^listening on ")
    return server


def start_eve(start_process: Start, target: tuple[str, int], name: str = "Eve") -> ChatProcess:
    host, port = target
    eve = start_process(
        [
            "client",
            "--headless",
            "--reconnect",
            "--nick",
            name,
            "--host",
            host,
            "--port",
            str(port),
        ],
        name=name,
    )
    eve.wait_for_output(rf"^\* welcome, you are {name};")
    eve.wait_for_output(rf"^\* {name} joined$")  # after the session notice: resumable
    return eve


def raw_member(address: tuple[str, int], nick: str) -> RawPeer:
    peer = RawPeer(*address)
    peer.expect_line(r"^\* welcome")
    peer.send_line(f"/nick {nick}")
    peer.expect_line(rf" is now {nick}$")
    return peer


def chat(lines: list[str]) -> list[str]:
    return [line for line in lines if CHAT.match(line)]


def wait_for_all(process: ChatProcess, expected: list[str]) -> None:
    """Wait until *process* printed every line of *expected* (in any order)."""
    for line in expected:
        process.out.wait_for(f"^{re.escape(line)}$", 30.0)


def assert_same_chat(eve: list[str], others: list[str], eve_said: list[str]) -> None:
    eve_chat, other_chat = chat(eve), chat(others)
    start = other_chat.index(eve_chat[0])  # the others were there before Eve
    assert eve_chat == other_chat[start : start + len(eve_chat)], "Eve's transcript differs"
    for text in eve_said:
        assert other_chat.count(f"Eve: {text}") == 1, f"Eve's {text!r} not there exactly once"
        assert eve_chat.count(f"Eve: {text}") == 1, f"Eve saw her {text!r} not exactly once"


def test_a_client_cut_off_again_and_again_misses_and_doubles_nothing(
    address: tuple[str, int], start_process: Start
) -> None:
    start_server(start_process, address)
    alice, bob = raw_member(address, "Alice"), raw_member(address, "Bob")
    proxy = TcpProxy(address)
    try:
        eve = start_eve(start_process, proxy.address)
        eve_said: list[str] = []
        for cut in range(CUTS):
            for number in range(5):  # in flight both ways when the cut comes
                alice.send_line(f"a{cut}.{number}")
                bob.send_line(f"b{cut}.{number}")
                eve.send_line(f"e{cut}.{number}")
                eve_said.append(f"e{cut}.{number}")
            proxy.cut()
            for number in range(3):  # while Eve is away (or coming back)
                alice.send_line(f"away{cut}.{number}")
                eve.send_line(f"typed{cut}.{number}")
                eve_said.append(f"typed{cut}.{number}")
            eve.wait_for_output(r"^\* welcome back, you are Eve; ")
        alice.send_line("the end")
        wait_for_all(eve, ["Alice: the end", *(f"Eve: {text}" for text in eve_said)])
        bob.inbox.wait_for(r"^Alice: the end$", 30.0)
        for text in eve_said:
            bob.inbox.wait_for(f"^Eve: {re.escape(text)}$", 30.0)
        assert proxy.cuts == CUTS
        assert_same_chat(eve.out.lines, bob.lines, eve_said)
        assert not any(line.startswith("* session ") for line in eve.out.lines)  # a secret
        assert "left" not in "\n".join(line for line in bob.lines if "Eve" in line)
    finally:
        proxy.close()


def test_a_client_resumes_across_a_server_killed_and_restarted_on_its_store(
    address: tuple[str, int], start_process: Start, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    server = start_server(start_process, address, "--store", str(store))
    bob = start_eve(start_process, address, name="Bob")  # a session client too, no proxy
    proxy = TcpProxy(address)
    try:
        eve = start_eve(start_process, proxy.address)
        eve_said: list[str] = []
        for number in range(5):
            bob.send_line(f"before{number}")
            eve.send_line(f"e-before{number}")
            eve_said.append(f"e-before{number}")
        wait_for_all(eve, [f"Eve: {text}" for text in eve_said])
        server.signal(signal.SIGKILL)
        server.wait()
        for number in range(3):  # typed while the server is down
            eve.send_line(f"e-down{number}")
            eve_said.append(f"e-down{number}")
        server = start_server(start_process, address, "--store", str(store))
        eve.wait_for_output(r"^\* welcome back, you are Eve; ")
        bob.wait_for_output(r"^\* welcome back, you are Bob; ")
        for number in range(5):
            bob.send_line(f"after{number}")
            eve.send_line(f"e-after{number}")
            eve_said.append(f"e-after{number}")
        bob.send_line("the end")
        everything = [f"Eve: {text}" for text in eve_said] + ["Bob: the end"]
        wait_for_all(eve, everything)
        wait_for_all(bob, everything)
        assert_same_chat(eve.out.lines, bob.out.lines, eve_said)
        assert "history was reset" not in eve.stdout
    finally:
        proxy.close()
