"""Real ``python -m tcpchat`` processes on port 9000: what a user at a terminal sees."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from harness import (
    ChatProcess,
    RawPeer,
    assert_one_total_order,
    no_traceback,
    run_concurrently,
)

pytestmark = pytest.mark.e2e

Start = Callable[..., ChatProcess]


def client_args(address: tuple[str, int], *extra: str) -> list[str]:
    return ["client", "--headless", "--host", address[0], "--port", str(address[1]), *extra]


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


def test_seed_exchange_appears_on_both_consoles(
    server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    client = start_process(client_args(address), name="client")
    client.wait_for_output(r"^\* welcome, you are Client;")
    server.send_line("Hai client!")
    client.wait_for_output(r"^Server: Hai client!$")
    client.send_line("Halo server!")
    client.wait_for_output(r"^Client: Halo server!$")
    server.wait_for_output(r"^\[\d\d:\d\d:\d\d\] Server: Hai client!$")
    server.wait_for_output(r"^\[\d\d:\d\d:\d\d\] Client: Halo server!$")
    client.close_stdin()
    assert client.wait() == 0
    server.wait_for_output(r"\* Client left \(quit\)")
    assert server.stop() == 0
    assert no_traceback(server.stderr, client.stderr, server.stdout)


def test_netcat_and_the_headless_client_chat_through_the_server(
    server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    netcat = shutil.which("nc")
    if netcat is None:
        pytest.skip("nc (netcat-openbsd) is not installed")
    nc = start_process([], command=[netcat, "-N", *map(str, address)], name="nc")
    nc.wait_for_output(r"^\* welcome, you are Client;")
    nc.send_line("/nick netcat")
    nc.wait_for_output(r"^\* Client is now netcat$")
    client = start_process(client_args(address, "--nick", "term"), name="client")
    client.wait_for_output(r"^\* term joined$")  # /hello term: in under the name at once
    nc.send_line("hello from nc")
    client.wait_for_output(r"^netcat: hello from nc$")
    client.send_line("hello from the terminal")
    nc.wait_for_output(r"^term: hello from the terminal$")
    server.wait_for_output(r"netcat: hello from nc$")
    nc.close_stdin()  # -N: shut down the socket at end of input
    client.wait_for_output(r"^\* netcat left \(connection closed\)$")


def test_socat_speaks_the_protocol_too(
    server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    socat = shutil.which("socat")
    if socat is None:
        pytest.skip("socat is not installed")
    peer = start_process([], command=[socat, "-", f"TCP:{address[0]}:{address[1]}"], name="socat")
    peer.wait_for_output(r"^\* welcome")
    peer.send_line("/who")
    peer.wait_for_output(r"^\* online: Server, Client$")
    server.send_line("Hai socat!")
    peer.wait_for_output(r"^Server: Hai socat!$")


def test_client_exits_1_with_one_line_when_the_server_is_unreachable(
    start_process: Start, address: tuple[str, int]
) -> None:
    client = start_process(client_args(address), name="client")
    assert client.wait() == 1
    assert client.stderr == (
        f"tcpchat: cannot connect to {address[0]}:9000: connection refused (is the server running?)"
    )


def test_a_port_in_use_exits_2_with_one_line(
    server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    second = start_process(["server", "--headless", "--host", address[0]], name="second")
    assert second.wait() == 2
    assert second.stderr.startswith(f"tcpchat: cannot listen on {address[0]}:9000: address")
    assert "\n" not in second.stderr


def test_bad_port_in_the_environment_is_a_usage_error(start_process: Start) -> None:
    client = start_process(["client", "--headless"], env={"TCPCHAT_PORT": "ninety"}, name="c")
    assert client.wait() == 2
    assert "TCPCHAT_PORT: 'ninety' is not a port number" in client.stderr


def test_environment_supplies_host_port_and_nick(
    server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    env = {"TCPCHAT_HOST": address[0], "TCPCHAT_PORT": "9000", "TCPCHAT_NICK": "envy"}
    client = start_process(["client", "--headless"], env=env, name="client")
    client.wait_for_output(r"^\* envy joined$")


def test_server_keeps_serving_with_no_stdin_and_stops_cleanly_on_sigterm(
    start_process: Start, address: tuple[str, int], tmp_path: Path
) -> None:
    log = tmp_path / "transcript.log"
    server = start_process(
        ["server", "--headless", "--host", address[0], "--log-file", str(log)], name="server"
    )
    server.close_stdin()  # like </dev/null: end of input at once
    server.wait_for_output("^listening on ")
    peer = RawPeer(*address)
    peer.expect_line(r"^\* welcome")
    peer.send_line("still there?")
    peer.expect_line("^Client: still there\\?$")
    server.signal(signal.SIGTERM)
    peer.expect_line(r"^\* server shutting down$")
    peer.wait_closed()
    peer.close()
    assert server.wait() == 0
    assert no_traceback(server.stdout, server.stderr)
    transcript = log.read_text(encoding="utf-8")
    assert "Client: still there?" in transcript
    assert "* server stopped" in transcript


def test_sigint_stops_the_server_cleanly_too(server: ChatProcess) -> None:
    server.signal(signal.SIGINT)
    assert server.wait() == 0
    assert no_traceback(server.stdout, server.stderr)


def test_sigterm_ends_a_connected_client_with_a_quit(
    server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    client = start_process(client_args(address), name="client")  # stdin stays open
    client.wait_for_output(r"^\* welcome")
    client.signal(signal.SIGTERM)
    assert client.wait() == 0
    server.wait_for_output(r"\* Client left \(quit\)$")
    assert no_traceback(client.stdout, client.stderr)


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_a_client_waiting_to_reconnect(
    start_process: Start, address: tuple[str, int], number: int
) -> None:
    """The back-off wait wakes for a signal; unheard, the client would retry for ever."""
    client = start_process(client_args(address, "--reconnect"), name="client")
    client.wait_for_output(r"^\* cannot connect to .*; reconnecting in 1 s$")
    client.wait_for_output(r"^\* cannot connect to .*; reconnecting in 2 s$")
    client.signal(number)
    assert client.wait() == 0
    assert no_traceback(client.stdout, client.stderr)


def test_killing_the_server_tells_the_client_which_exits_1(
    server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    client = start_process(client_args(address), name="client")
    client.wait_for_output(r"^\* welcome")
    server.signal(signal.SIGKILL)
    assert client.wait() == 1
    assert client.stderr.startswith("tcpchat: connection lost: ")
    assert no_traceback(client.stderr)


def test_quit_command_ends_the_client_with_exit_0(
    server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    client = start_process(client_args(address), name="client")
    client.send_line("/quit")
    client.wait_for_output(r"^\* bye$")
    assert client.wait() == 0


@pytest.fixture
def unthrottled_server(address: tuple[str, int], start_process: Start) -> ChatProcess:
    """A server with flood control off, for tests that send at full speed on purpose."""
    args = ["server", "--headless", "--host", address[0], "--port", str(address[1])]
    server = start_process([*args, "--max-lines-per-second", "0"], name="server")
    server.wait_for_output("^listening on ")
    return server


def test_several_clients_at_full_speed_all_see_one_order(
    unthrottled_server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    names = ["a", "b", "c"]
    clients = [start_process(client_args(address, "--nick", n), name=n) for n in names]
    # Start the race only once everyone has their name.
    for client, name in zip(clients, names, strict=False):
        client.wait_for_output(f"^\\* {name} joined$")
    texts = {name: [f"{name} {i}" for i in range(500)] for name in names}
    run_concurrently(
        *(
            _writer(client, "".join(f"{t}\n" for t in texts[name]))
            for client, name in zip(clients, names, strict=False)
        )
    )
    assert_one_total_order([client.out.wait_for_chat(1500, 30) for client in clients], texts)


def _writer(client: ChatProcess, text: str) -> Callable[[], None]:
    return lambda: _write_all(client, text)


def _write_all(client: ChatProcess, text: str) -> None:
    stdin = client.process.stdin
    assert stdin is not None
    stdin.write(text.encode())
    stdin.flush()


def test_full_duplex_streams_both_ways_without_deadlock(
    unthrottled_server: ChatProcess, start_process: Start, address: tuple[str, int]
) -> None:
    server = unthrottled_server
    client = start_process(client_args(address), name="client")
    client.wait_for_output(r"^\* welcome")
    count = 20_000
    run_concurrently(
        _writer(client, "".join(f"up {i} {'u' * 100}\n" for i in range(count))),
        _writer(server, "".join(f"down {i} {'d' * 100}\n" for i in range(count))),
    )
    client.wait_for_output(f"^Client: up {count - 1} ", timeout=60)
    client.out.wait_for(f"^Server: down {count - 1} ", timeout=60)
    chat = client.out.wait_for_chat(2 * count, 30)
    assert [line.split()[2] for line in chat if line.startswith("Client: up")] == [
        str(i) for i in range(count)
    ]


def test_hostile_bytes_are_neutralised_for_everyone(
    server: ChatProcess, raw_peer: Callable[..., RawPeer]
) -> None:
    attacker, victim = raw_peer(), raw_peer()
    victim.expect_line(r"^\* Client2 joined$")
    attacker.send_bytes(b"\x1b]0;pwned\x07\x1b[2J caf\xc3\xa9 \xff\xfe\n")
    line = victim.expect_line("^Client: ")
    assert line == "Client: \u241b]0;pwned\u2407\u241b[2J caf\u00e9 \ufffd\ufffd"
    server.wait_for_output("Client: \u241b]0;pwned")
    assert "\x1b" not in server.stdout


def test_huge_lines_are_refused_and_the_servers_memory_stays_bounded(
    server: ChatProcess, raw_peer: Callable[..., RawPeer]
) -> None:
    peer = raw_peer()
    peer.expect_line(r"^\* welcome")
    before = rss_kib(server.pid)
    peer.send_bytes(b"a" * 100_000 + b"\n")
    assert "line too long" in peer.expect_line(r"^\* error: ")
    chunk = b"b" * (1024 * 1024)
    for _ in range(50):  # 50 MB that never ends
        peer.send_bytes(chunk)
    assert "line too long" in peer.expect_line(r"^\* error: ")
    peer.send_line(" and the end")  # ends the endless line, discarded with it
    peer.send_line("back to normal")
    assert peer.expect_line("^Client: ") == "Client: back to normal"
    growth_mib = (rss_kib(server.pid) - before) / 1024
    assert growth_mib < 16, f"server RSS grew by {growth_mib:.1f} MiB"


def test_a_reset_mid_line_shows_as_a_leave_on_the_console(
    server: ChatProcess, raw_peer: Callable[..., RawPeer]
) -> None:
    witness, crasher = raw_peer(), raw_peer()
    witness.expect_line(r"^\* Client2 joined$")
    crasher.send_bytes(b"never finish")
    crasher.reset()
    witness.expect_line(r"^\* Client2 left \(connection reset by peer\)$")
    server.wait_for_output(r"\* Client2 left \(connection reset by peer\)$")


def test_a_client_that_never_reads_does_not_delay_the_others(
    unthrottled_server: ChatProcess, raw_peer: Callable[..., RawPeer], address: tuple[str, int]
) -> None:
    sleeper = socket.create_connection(address)  # connects and never reads
    talker, listener = raw_peer(), raw_peer()
    listener.expect_line(r"^\* Client3 joined$")
    payload = "z" * 1000
    for batch in range(20):  # 2 MB through the server while the sleeper sleeps
        talker.send_bytes(b"".join(f"{batch} {i} {payload}\n".encode() for i in range(100)))
        listener.expect_line(f"^Client2: {batch} 99 ")
    sleeper.close()


def test_a_full_server_turns_newcomers_away_politely(
    start_process: Start, address: tuple[str, int], raw_peer: Callable[..., RawPeer]
) -> None:
    server = start_process(
        ["server", "--headless", "--host", address[0], "--max-clients", "1"], name="server"
    )
    server.wait_for_output("^listening on ")
    first = raw_peer()
    first.expect_line(r"^\* welcome")
    second = raw_peer()
    assert second.expect_line(r"^\* error: ") == (
        "* error: server full (1 clients); try again later"
    )
    second.wait_closed()
    server.wait_for_output(r"refused .*: server full")


def test_module_entry_points_work(address: tuple[str, int]) -> None:
    for module in ("tcpchat.server", "tcpchat.client"):
        result = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert "--headless" in result.stdout
    version = subprocess.run(
        [sys.executable, "-m", "tcpchat", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("tcpchat ")


def test_who_lists_everyone(server: ChatProcess, raw_peer: Callable[..., RawPeer]) -> None:
    """The README's example scenario, kept honest by running it."""
    alice, bob = raw_peer(), raw_peer()
    bob.expect_line(r"^\* welcome")
    alice.send_line("/who")
    assert alice.expect_line(r"^\* online: ") == "* online: Server, Client, Client2"
