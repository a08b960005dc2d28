"""One test per row of the README's exit-code table, each asserting ONE code (issue 16).

Plus the ``--reconnect`` rules (give up on a final refusal; back off 1, 2, 4 s
and start again at 1 s after a success) and the installed console scripts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import pytest
from harness import ChatProcess, RawPeer, no_traceback

pytestmark = pytest.mark.e2e

Start = Callable[..., ChatProcess]
CHECKOUT = Path(__file__).resolve().parents[2]


def server_args(address: tuple[str, int], *extra: str) -> list[str]:
    return ["server", "--headless", "--host", address[0], "--port", str(address[1]), *extra]


def client_args(address: tuple[str, int], *extra: str) -> list[str]:
    return ["client", "--headless", "--host", address[0], "--port", str(address[1]), *extra]


def listening(start_process: Start, address: tuple[str, int], *extra: str) -> ChatProcess:
    server = start_process(server_args(address, *extra), name="server")
    server.wait_for_output(r"^listening on ")
    return server


# -- the table, row by row ------------------------------------------------------


def test_row_headless_server_ready(address: tuple[str, int], start_process: Start) -> None:
    server = start_process(server_args(address), name="server")
    assert server.wait_for_output(r"^listening on ").string == f"listening on {address[0]}:9000"
    assert server.process.poll() is None  # still serving: this row has no exit code


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_row_server_stopped_by_a_signal_exits_0(
    number: signal.Signals, address: tuple[str, int], start_process: Start
) -> None:
    server = listening(start_process, address)
    peer = RawPeer(*address)
    peer.expect_line(r"^\* welcome")
    server.signal(number)
    assert peer.expect_line(r"^\* server") == "* server shutting down"
    peer.close()
    assert server.wait() == 0
    assert no_traceback(server.stdout, server.stderr)


def test_a_client_of_a_server_stopping_cleanly_says_so_once_and_exits_0(
    address: tuple[str, int], start_process: Start
) -> None:
    """The row's clients: the server's notice is the whole story (no "connection lost", 0)."""
    server = listening(start_process, address)
    client = start_process(client_args(address), name="client")
    client.wait_for_output(r"^\* welcome")
    server.signal(signal.SIGTERM)
    client.wait_for_output(r"^\* server shutting down$")
    assert client.wait() == 0
    assert "connection lost" not in client.stdout + client.stderr
    assert client.stdout.count("server shutting down") == 1
    # The server's log says why the client left: it did not quit.
    assert server.wait() == 0
    assert "Client left (server shutting down)" in server.stdout
    assert "left (quit)" not in server.stdout


@pytest.mark.parametrize("how", ["end of input", "/quit"])
def test_row_client_end_of_input_or_quit_exits_0(
    how: str, address: tuple[str, int], start_process: Start
) -> None:
    listening(start_process, address)
    client = start_process(client_args(address), name="client")
    client.wait_for_output(r"^\* welcome")
    if how == "/quit":
        client.send_line("/quit")
    else:
        client.close_stdin()
    client.wait_for_output(r"^\* bye$")
    assert client.wait() == 0


def test_row_no_server_at_the_address_exits_1(
    address: tuple[str, int], start_process: Start
) -> None:
    client = start_process(client_args(address), name="client")
    assert client.wait() == 1
    assert client.stderr == (
        f"tcpchat: cannot connect to {address[0]}:9000: connection refused (is the server running?)"
    )


def test_row_server_lost_while_connected_exits_1(
    address: tuple[str, int], start_process: Start
) -> None:
    server = listening(start_process, address)
    client = start_process(client_args(address), name="client")
    client.wait_for_output(r"^\* welcome")
    server.signal(signal.SIGKILL)
    assert client.wait() == 1
    assert client.stderr.startswith("tcpchat: connection lost: ")
    assert "\n" not in client.stderr


def test_row_port_already_in_use_exits_2(address: tuple[str, int], start_process: Start) -> None:
    listening(start_process, address)
    second = start_process(server_args(address), name="second")
    assert second.wait() == 2
    assert second.stderr.startswith(
        f"tcpchat: cannot listen on {address[0]}:9000: address already in use"
    )
    assert "\n" not in second.stderr


BAD_OPTIONS = {
    "unknown option": (["client", "--headless", "--frobnicate"], {}, "unrecognized arguments"),
    "bad port": (["client", "--headless", "--port", "99999"], {}, "--port"),
    "bad port variable": (["client", "--headless"], {"TCPCHAT_PORT": "ninety"}, "TCPCHAT_PORT"),
    "bad limit": (["server", "--headless", "--max-clients", "0"], {}, "--max-clients"),
    "bad server nick": (["server", "--headless", "--nick", "a b"], {}, "--nick"),
    "bad password variable": (["server", "--headless"], {"TCPCHAT_PASSWORD": " x"}, "PASSWORD"),
    "cert without key": (["server", "--headless", "--tls-cert", "c.pem"], {}, "--tls-key"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_row_bad_option_or_environment_value_exits_2(case: str, start_process: Start) -> None:
    args, env, named = BAD_OPTIONS[case]
    process = start_process(args, env=env, name="bad")
    assert process.wait() == 2
    assert no_traceback(process.stderr)
    # The usage (argparse may wrap it), then ONE line saying what is wrong.
    last = process.stderr.splitlines()[-1]
    assert last.startswith("tcpchat"), process.stderr
    assert named in last, process.stderr


# -- --reconnect ------------------------------------------------------------------


def test_reconnect_backs_off_past_2_s_and_starts_again_at_1_s_after_a_success(
    address: tuple[str, int], start_process: Start
) -> None:
    client = start_process(client_args(address, "--reconnect"), name="client")
    delays = []
    for _ in range(3):  # no server yet: 1, 2, then 4 s
        match = client.wait_for_output(r"^\* cannot connect to .*; reconnecting in (\d+) s$")
        delays.append(int(match.group(1)))
    assert delays == [1, 2, 4]
    server = listening(start_process, address)
    client.wait_for_output(r"^\* welcome, you are Client;", timeout=15)
    server.signal(signal.SIGKILL)
    server.wait()
    # A success resets the back-off: the next wait is 1 s again, not 8 s.
    match = client.wait_for_output(r"^\* connection lost: .*; reconnecting in (\d+) s$")
    assert match.group(1) == "1"
    client.close_stdin()
    assert client.wait() == 0


def test_reconnect_gives_up_on_a_wrong_password(
    address: tuple[str, int], start_process: Start
) -> None:
    listening(start_process, address, "--password", "right one")
    client = start_process(
        client_args(address, "--reconnect", "--password", "wrong one"), name="client"
    )
    assert client.wait(timeout=20) == 1  # its standard input stays open: only the refusal ends it
    assert "* error: wrong password; closing" in client.stdout
    assert "reconnecting" not in client.stdout
    assert client.stderr.startswith("tcpchat: connection lost: ")


# -- the console scripts ------------------------------------------------------------


def same_code(installed: Path, checkout: Path) -> bool:
    """True if *installed* holds exactly this checkout's modules (editable install or wheel)."""
    ours = sorted(path.relative_to(checkout) for path in checkout.rglob("*.py"))
    return bool(ours) and all(
        (installed / relative).is_file()
        and (installed / relative).read_bytes() == (checkout / relative).read_bytes()
        for relative in ours
    )


def installed_script(name: str) -> str:
    """The path of console script *name*, if it runs THIS checkout's code; else skip."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e . makes it)")
    first = Path(path).read_text(errors="replace").splitlines()[0]
    if not first.startswith("#!") or "python" not in first:  # e.g. a pyenv shim (a shell script)
        found = subprocess.run(
            ["pyenv", "which", name], check=False, capture_output=True, text=True
        )
        if found.returncode != 0:
            pytest.skip(f"cannot tell which Python {path} runs")
        path = found.stdout.strip()
        first = Path(path).read_text(errors="replace").splitlines()[0]
    interpreter = first[2:].strip().split()[0]
    probe = subprocess.run(
        [interpreter, "-c", "import tcpchat; print(tcpchat.__file__)"],
        check=False,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        env={**os.environ},
    )
    imported = Path(probe.stdout.strip()).resolve().parent
    if not same_code(imported, CHECKOUT / "tcpchat"):
        # The system-wide editable install may point at another checkout.
        message = f"{name} would run the tcpchat in {imported}, not this checkout's code"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message + ": install this checkout (pip install -e .) or set PYTHONPATH")
    return path


def test_the_console_scripts_run_a_server_and_a_client(
    address: tuple[str, int], start_process: Start
) -> None:
    server_script, client_script = (
        installed_script("tcpchat-server"),
        installed_script("tcpchat-client"),
    )
    host, port = address
    server = start_process(
        [], command=[server_script, "--headless", "--host", host, "--port", str(port)], name="s"
    )
    server.wait_for_output(r"^listening on ")
    client = start_process(
        [], command=[client_script, "--headless", "--host", host, "--port", str(port)], name="c"
    )
    client.wait_for_output(r"^\* welcome, you are Client")
    client.send_line("Halo server!")
    server.wait_for_output(r"Client: Halo server!$")
    client.close_stdin()
    assert client.wait() == 0
    server.signal(signal.SIGTERM)
    assert server.wait() == 0


# -- the first ten minutes (issue 14): usage errors, help, the missing Tk ------------


def test_a_bare_tcpchat_prints_the_help_and_exits_0(start_process: Start) -> None:
    bare = start_process([], name="bare")
    assert bare.wait() == 0
    for word in ("COMMAND", "server", "client", "demo"):
        assert word in bare.stdout
    assert bare.stderr == ""


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["server", "--bogus"], "server"),
        (["client", "--port", "x"], "client"),
        (["demo", "--headless"], "demo"),  # demo is two windows: --help no longer offers it
    ],
)
def test_a_usage_error_is_one_line_naming_the_commands_own_help(
    args: list[str], command: str, start_process: Start
) -> None:
    wrong = start_process(args, name="wrong")
    assert wrong.wait() == 2
    assert wrong.stderr.endswith(f"(see tcpchat {command} --help)")
    assert "\n" not in wrong.stderr  # one line: no usage block
    assert wrong.stderr.startswith(f"tcpchat {command}: ")


def test_demo_help_does_not_offer_headless(start_process: Start) -> None:
    helped = start_process(["demo", "--help"], name="help")
    assert helped.wait() == 0
    assert "--headless" not in helped.stdout


def test_a_missing_tkinter_names_the_package_to_install(
    address: tuple[str, int], start_process: Start, tmp_path: Path
) -> None:
    """Debian's python3 without python3-tk: the message says which package to install."""
    broken = tmp_path / "tkinter"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('No module named _tkinter')\n")
    window = start_process(
        ["server", "--host", address[0], "--port", str(address[1])],
        name="server",
        env={"PYTHONPATH": os.pathsep.join([str(tmp_path), str(CHECKOUT)]), "DISPLAY": ":0"},
    )
    assert window.wait() == 2
    assert "tkinter is missing" in window.stderr
    assert "apt install python3-tk" in window.stderr
    assert "\n" not in window.stderr
    assert no_traceback(window.stderr)
