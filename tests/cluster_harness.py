"""Helpers for the cluster tests (issue 12): servers of one room on one Redis, and their clients.

The contract they test is ``tcpchat server --store redis://… --room NAME --lease SECONDS``
(several servers, one room, one order) and ``tcpchat client --server HOST:PORT …`` (a client
that fails over to the next server).  Everything here builds on :mod:`harness`: real
processes (:class:`~harness.ChatProcess`) and raw sockets (:class:`~harness.RawPeer`), and
every wait is on a condition, with a timeout that fails saying what was seen.

* :class:`Cluster` starts the servers of one room (its own room name, so the tests of a run
  can share one ``redis-server``), each on its own loopback address and a free port.
* :class:`Member` is a raw socket in the room, as a program would be: a *session*
  (``/hello NICK``, so the lines meant for it alone start with ``~`` and every other line is
  a line of the room's log, and it can count its position to ``/resume`` elsewhere) or a
  plain ``nc``-style connection (:meth:`Member.plain`).
* :func:`start_client` starts the terminal client (``tcpchat client --headless``) on one
  server or on several (``--server`` …).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence

import pytest
from harness import ChatProcess, RawPeer, no_traceback

Start = Callable[..., ChatProcess]
Address = tuple[str, int]

SERVER_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
"""Where the servers of a cluster listen: three loopback addresses, a free port on each."""
REDIS_HOST = "127.0.0.5"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_E2E = [
    pytest.mark.e2e,
    pytest.mark.redis,
    pytest.mark.skipif(
        not os.path.exists(REDIS_SERVER),
        reason="needs redis-server (Debian: apt install redis-server)",
    ),
]
"""The marks of an end-to-end test of a room on Redis (skipped, saying why, without one)."""
TIMEOUT = 30.0
"""How long a cluster test waits for anything: Redis round trips, leases, fail-overs."""

SESSION = re.compile(r"^~\* session (\w+) in (\w+) at (\d+)$")
CHAT = re.compile(r"^[^\s*|(~][^\s]*: ")
"""A chat line on a console or a socket (not a notice, history or pending line)."""
ROOM_LINE = re.compile(r"^room (\S+) on (redis://\S+): (\d+) lines so far$")


def free_port(host: str) -> int:
    """A TCP port free on *host* now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def new_room() -> str:
    """A room name no other test uses."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


def chat(lines: Sequence[str]) -> list[str]:
    return [line for line in lines if CHAT.match(line)]


def since(lines: Sequence[str], first: str) -> list[str]:
    """*lines* from the first one equal to *first* on (it included)."""
    return list(lines[list(lines).index(first) :])


@dataclass
class Node:
    """One server of the cluster."""

    process: ChatProcess
    address: Address
    nick: str

    @property
    def server_arg(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def room_line(self) -> re.Match[str] | None:
        """The ``room NAME on URL: N lines so far`` it printed before listening, if any."""
        for line in self.process.out.lines:
            if line.startswith("listening on "):
                return None
            if found := ROOM_LINE.match(line):
                return found
        return None


class Cluster:
    """The servers of one room on one Redis, started by a test's ``start_process``."""

    def __init__(self, start_process: Start, redis_url: str, *, lease: int = 3) -> None:
        self.start_process = start_process
        self.redis_url = redis_url
        self.room = new_room()
        self.lease = lease

    def start(self, host: str, nick: str, *extra: str) -> Node:
        """A headless server of the room on *host* (a free port), once it is listening."""
        port = free_port(host)
        args = [
            *("server", "--headless", "--host", host, "--port", str(port)),
            *("--store", self.redis_url, "--room", self.room),
            *("--nick", nick, "--lease", str(self.lease), *extra),
        ]
        process = self.start_process(args, name=f"server {nick}")
        process.wait_for_output(r"^listening on ", TIMEOUT)
        return Node(process, (host, port), nick)

    def start_three(self, *extra: str) -> list[Node]:
        return [
            self.start(host, f"Server{number}", *extra)
            for number, host in enumerate(SERVER_HOSTS, 1)
        ]


class Member(RawPeer):
    """A raw socket in the room; a session (``/hello``) unless made with :meth:`plain`."""

    nick: str
    token = ""
    log_id = ""
    position = 0
    """Where its session began: the position before the history it was sent."""

    @classmethod
    def join(cls, address: Address, nick: str) -> Member:
        """A session as *nick*, once its own join notice came back (it is in the room)."""
        member = cls(*address)
        member.nick = nick
        member.send_line(f"/hello {nick}")
        member.expect_line(rf"^~\* welcome, you are {re.escape(nick)};", TIMEOUT)
        found = SESSION.match(member.expect_line(r"^~\* session ", TIMEOUT))
        assert found, member.lines
        member.token, member.log_id, member.position = found[1], found[2], int(found[3])
        member.expect_line(rf"^\* {re.escape(nick)} joined$", TIMEOUT)
        return member

    @classmethod
    def resume(cls, address: Address, old: Member) -> Member:
        """*old*'s session, resumed on *address* at the position *old* counted."""
        member = cls(*address)
        member.nick, member.token, member.log_id = old.nick, old.token, old.log_id
        member.position = old.now()
        member.send_line(f"/resume {old.log_id} {member.position} {old.nick} {old.token}")
        return member

    @classmethod
    def plain(cls, address: Address, nick: str) -> Member:
        """An ``nc``-style connection (no session), renamed to *nick*."""
        member = cls(*address)
        member.expect_line(r"^\* welcome, you are ", TIMEOUT)
        member.send_line(f"/nick {nick}")
        member.expect_line(rf" is now {re.escape(nick)}$", TIMEOUT)
        member.nick = nick
        return member

    def log(self) -> list[str]:
        """The room's log lines it received (for a session: everything without ``~``)."""
        return [line for line in self.lines if not line.startswith("~")]

    def now(self) -> int:
        """Its position in the room's log: where its session began, plus the lines since."""
        return self.position + len(self.log())

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """The first received line (from the start) matching *pattern*."""
        return self.inbox.wait_for(pattern, timeout)[1].string

    def wait_for_all(self, lines: Sequence[str], timeout: float = TIMEOUT) -> None:
        for line in lines:
            self.wait_for(f"^{re.escape(line)}$", timeout)

    def says(self, *texts: str) -> None:
        for text in texts:
            self.send_line(text)


def start_client(start_process: Start, nick: str, servers: Sequence[Node]) -> ChatProcess:
    """``tcpchat client --headless --nick NICK``: with ``--host``/``--port`` for one server,
    ``--server`` for each of several; returned once it is in the room."""
    if len(servers) == 1:
        where = ["--host", servers[0].address[0], "--port", str(servers[0].address[1])]
    else:
        where = [arg for node in servers for arg in ("--server", node.server_arg)]
    client = start_process(["client", "--headless", "--nick", nick, *where], name=nick)
    client.wait_for_output(rf"^\* welcome, you are {re.escape(nick)};", TIMEOUT)
    client.wait_for_output(rf"^\* {re.escape(nick)} joined$", TIMEOUT)
    return client


def wait_for_all(process: ChatProcess, lines: Sequence[str], timeout: float = TIMEOUT) -> None:
    """Wait until *process* printed every one of *lines* (in any order)."""
    for line in lines:
        process.out.wait_for(f"^{re.escape(line)}$", timeout)


def online(line: str) -> list[str]:
    """The nicknames of a ``* online: …`` line (``~* online: …`` for a session)."""
    found = re.match(r"^~?\* online: (.*)$", line)
    assert found, line
    return found[1].split(", ")


def assert_same_chat(
    mover: Sequence[str], stayer: Sequence[str], nick: str, said: Sequence[str]
) -> None:
    """The chat *mover* printed is the part of *stayer*'s from its first line on (no gap, no
    duplicate), and each line *nick* said is there exactly once in both."""
    moved, stayed = chat(mover), chat(stayer)
    start = stayed.index(moved[0])  # the stayer was there first
    assert moved == stayed[start : start + len(moved)], f"{nick}'s transcript differs"
    assert len(moved) == len(stayed) - start, f"{nick}'s transcript ends early"
    for text in said:
        assert stayed.count(f"{nick}: {text}") == 1, f"{nick}'s {text!r} not there exactly once"
        assert moved.count(f"{nick}: {text}") == 1, f"{nick} saw her {text!r} not exactly once"


def stop_all_without_a_traceback(request: pytest.FixtureRequest) -> None:
    """Stop this test's processes (SIGTERM) and check none of them printed a traceback."""
    processes: list[ChatProcess] = getattr(request.node, "tcpchat_processes", [])
    for process in processes:
        process.stop()
    for process in processes:
        assert no_traceback(process.stderr), process.report()


def wait_for_logged(process: ChatProcess, pattern: str, timeout: float = TIMEOUT) -> str:
    """The first line matching *pattern* (searched) the server logged: on its stderr or in its
    terminal transcript (stdout), whichever has it."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while True:
        for stream in (process.err, process.out):
            with stream.changed:
                found = next((line for line in stream.lines if regex.search(line)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{process.name} logged no {pattern!r} in {timeout:g} s\n{process.report()}"
                    )
                stream.changed.wait(min(left, 0.1))  # a line on either stream: look again
