"""No data lost: the transcript file through crashes, and clients through server restarts."""

from __future__ import annotations

import io
import signal
from pathlib import Path
from typing import Callable

import pytest
from harness import ChatProcess, RawPeer, no_traceback

from tcpchat import events
from tcpchat.sinks import TranscriptFile

Start = Callable[..., ChatProcess]


def server_args(address: tuple[str, int], *extra: str) -> list[str]:
    return ["server", "--headless", "--host", address[0], "--port", str(address[1]), *extra]


def client_args(address: tuple[str, int], *extra: str) -> list[str]:
    return ["client", "--headless", "--host", address[0], "--port", str(address[1]), *extra]


def start_server(start_process: Start, address: tuple[str, int], *extra: str) -> ChatProcess:
    server = start_process(server_args(address, *extra), name="server")
    server.wait_for_output("^listening on ")
    return server


def chat_lines(log: Path) -> list[str]:
    """The chat lines of a transcript, without their time stamps."""
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines() if ": " in line[20:]]


# -- the transcript file -------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_the_log_file_has_every_line_the_server_showed_when_it_dies(
    address: tuple[str, int], start_process: Start, tmp_path: Path, stop: int
) -> None:
    log = tmp_path / "chat.log"
    server = start_server(start_process, address, "--log-file", str(log))
    peer = RawPeer(*address)
    peer.expect_line(r"^\* welcome")
    count = 80  # under the default burst, so flood control passes them all
    peer.send_bytes(b"".join(f"line {i}\n".encode() for i in range(count)))
    # The transcript observer runs before the console's, on the same thread,
    # so a line on the console is already in the file (flushed to the kernel).
    server.wait_for_output(f"Client: line {count - 1}$")
    server.signal(stop)
    server.wait()
    text = log.read_text()
    assert text.endswith("\n")  # no torn last line
    assert chat_lines(log) == [f"Client: line {i}" for i in range(count)]
    if stop == signal.SIGTERM:
        assert text.splitlines()[-1].endswith(" * server stopped")
    peer.close()


def test_a_restarted_server_appends_after_a_torn_line(
    address: tuple[str, int], start_process: Start, tmp_path: Path
) -> None:
    log = tmp_path / "chat.log"
    log.write_text("2026-01-01T00:00:00 Client: before\n2026-01-01T00:00:01 Client: torn li")
    server = start_server(start_process, address, "--log-file", str(log))
    peer = RawPeer(*address)
    peer.send_line("after")
    server.wait_for_output("Client: after$")
    assert server.stop() == 0
    lines = log.read_text().splitlines()
    assert lines[:2] == [
        "2026-01-01T00:00:00 Client: before",
        "2026-01-01T00:00:01 Client: torn li",
    ]
    assert chat_lines(log)[-1] == "Client: after"
    peer.close()


def test_the_client_log_file_records_what_the_client_saw(
    server: ChatProcess, address: tuple[str, int], start_process: Start, tmp_path: Path
) -> None:
    log = tmp_path / "client.log"
    client = start_process(client_args(address, "--log-file", str(log)), name="client")
    client.wait_for_output(r"^\* welcome")
    client.send_line("noted")
    client.wait_for_output("^Client: noted$")
    client.signal(signal.SIGKILL)
    client.wait()
    assert "Client: noted" in chat_lines(log)


def test_a_failing_disk_is_reported_once_and_the_chat_goes_on() -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full on this system")
    errors = io.StringIO()
    transcript = TranscriptFile(str(full), errors=errors)
    for number in range(3):
        transcript(events.Message("Client", f"lost {number}"))
    transcript.close()
    assert errors.getvalue() == (
        "tcpchat: cannot write log file /dev/full: no space left on device; lines are lost\n"
    )


def test_one_event_is_always_one_line(tmp_path: Path) -> None:
    log = tmp_path / "chat.log"
    transcript = TranscriptFile(str(log))
    transcript(events.Left("Client", "reason\nwith a newline\r"))
    transcript.close()
    assert len(log.read_text().splitlines()) == 1


def test_an_unwritable_log_file_is_a_one_line_error(
    address: tuple[str, int], start_process: Start, tmp_path: Path
) -> None:
    target = tmp_path / "missing-folder" / "chat.log"
    server = start_process(server_args(address, "--log-file", str(target)), name="server")
    assert server.wait() == 2
    assert server.stderr == f"tcpchat: cannot open log file {target}: No such file or directory"


# -- crash and restart ---------------------------------------------------------


def test_the_client_comes_back_after_the_server_is_killed_and_restarted(
    address: tuple[str, int], start_process: Start
) -> None:
    server = start_server(start_process, address)
    client = start_process(client_args(address, "--reconnect", "--nick", "alice"), name="client")
    client.wait_for_output(r"^\* alice joined$")
    server.signal(signal.SIGKILL)
    server.wait()
    client.wait_for_output(r"^\* connection lost: .*; reconnecting in 1 s$")
    client.wait_for_output(r"^\* cannot connect to .*: connection refused .*; reconnecting in 2 s$")
    restarted = start_server(start_process, address)
    client.wait_for_output(r"^\* reconnected to {}:{}$".format(*address))
    # The same name, resumed; a server restarted without --store cannot replay: it says so.
    client.wait_for_output(r"^\* welcome back, you are alice; the server's history was reset")
    client.send_line("back again")
    client.wait_for_output("^alice: back again$")
    restarted.wait_for_output("alice: back again$")
    client.close_stdin()
    assert client.wait() == 0
    assert no_traceback(client.stderr, restarted.stderr)


def test_a_reconnecting_client_waits_for_a_server_not_yet_started(
    address: tuple[str, int], start_process: Start
) -> None:
    client = start_process(client_args(address, "--reconnect"), name="client")
    client.wait_for_output(r"^\* cannot connect to .*; reconnecting in 1 s$")
    start_server(start_process, address)
    client.wait_for_output(r"^\* welcome, you are Client;")
    client.send_line("first words")
    client.wait_for_output("^Client: first words$")


def test_end_of_input_stops_a_client_waiting_to_reconnect(
    address: tuple[str, int], start_process: Start
) -> None:
    client = start_process(client_args(address, "--reconnect"), name="client")
    client.wait_for_output(r"reconnecting in 1 s$")
    client.close_stdin()
    assert client.wait() == 0


def test_lines_typed_while_disconnected_are_held_aloud(
    address: tuple[str, int], start_process: Start
) -> None:
    client = start_process(client_args(address, "--reconnect"), name="client")
    client.wait_for_output(r"reconnecting in 1 s$")
    client.send_line("into the void")
    client.wait_for_output(r"^\(pending: will be sent when reconnected\) into the void$")
