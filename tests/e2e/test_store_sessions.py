"""--store DIR with real processes: SIGKILL and a restart keep the history and the positions;
an unusable DIR is one line and exit 2, changing nothing in it (issue 11)."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Callable

import pytest
from harness import ChatProcess, RawPeer, no_traceback

from tcpchat import protocol

Start = Callable[..., ChatProcess]
SESSION = re.compile(r"^~\* session (\w+) in (\w+) at (\d+)$")


def start_server(start_process: Start, address: tuple[str, int], *extra: str) -> ChatProcess:
    args = ["server", "--headless", "--host", address[0], "--port", str(address[1]), *extra]
    server = start_process(args, name="server")
    server.wait_for_output("^listening on ")
    return server


def test_after_sigkill_and_a_restart_on_the_store_a_resume_gets_the_lines_after_it(
    address: tuple[str, int], start_process: Start, tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    server = start_server(start_process, address, "--store", store)
    eve = RawPeer(*address)
    eve.send_line("/hello Eve")
    found = SESSION.match(eve.expect_line(r"^~\* session "))
    assert found
    token, log_id = found[1], found[2]
    eve.expect_line(r"^\* Eve joined$")
    eve.send_line("one")
    eve.expect_line(r"^Eve: one$")
    position = int(found[3]) + 2  # her join and her line
    bob = RawPeer(*address)
    bob.expect_line(r"^\* Client joined$")
    bob.send_line("two")
    bob.expect_line(r"^Client: two$")
    server.signal(signal.SIGKILL)
    server.wait()
    eve.wait_closed()
    bob.wait_closed()

    restarted = start_server(start_process, address, "--store", store)
    back = RawPeer(*address)
    back.send_line(f"/resume {log_id} {position} Eve {token}")
    back.expect_line(r"^\* Eve joined$")  # the server forgot the token: a new join
    # What the old server logged after Eve's line: Bob's join and line (the kill
    # came before either connection's end was logged), then Eve's new join.
    assert back.lines[0] == "~* " + protocol.WELCOME_BACK.format(nick="Eve", count=2)
    assert back.lines[1:] == [
        f"~* session {token} in {log_id} at {position}",
        "* Client joined",
        "Client: two",
        "* Eve joined",
    ]
    fresh = RawPeer(*address)  # the history is there for a newcomer
    fresh.expect_line(r"^\* end of history$")
    fresh.expect_line(r"^\* Client joined$")
    assert fresh.lines[1:] == [
        "* history: the last 5 lines",
        "* Eve joined",
        "Eve: one",
        "* Client joined",
        "Client: two",
        "* Eve joined",
        "* end of history",
        "* Client joined",
    ]
    for peer in (back, fresh):
        peer.close()
    restarted.stop()
    assert no_traceback(restarted.stderr)


@pytest.mark.parametrize("kind", ["a file", "another program's directory", "a newer format"])
def test_an_unusable_store_is_one_line_and_exit_2_and_changes_nothing(
    address: tuple[str, int], start_process: Start, tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "store"
    if kind == "a file":
        target.write_text("not a directory\n")
    elif kind == "another program's directory":
        target.mkdir()
        (target / "notes.txt").write_text("mine\n")
    else:
        target.mkdir()
        (target / "tcpchat-store").write_text("tcpchat store, format 99\n")
    before = _snapshot(target)
    args = ["server", "--headless", "--host", address[0], "--port", str(address[1])]
    server = start_process([*args, "--store", str(target)], name="server")
    assert server.wait() == 2
    lines = server.stderr.strip().splitlines()
    assert len(lines) == 1, server.stderr
    assert lines[0].startswith(f"tcpchat: store {target}: ")
    assert _snapshot(target) == before
    assert "listening" not in server.stdout


def _snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {name: (path / name).read_bytes() for name in sorted(os.listdir(path))}
