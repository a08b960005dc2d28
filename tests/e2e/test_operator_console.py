"""The operator's commands in the server's terminal, and TCPCHAT_NICK for the operator
(issue 14 items 7 and 9): a real ``tcpchat server --headless`` process, typed into on its
standard input, watched by raw peers."""

from __future__ import annotations

from typing import Callable

from harness import ChatProcess, RawPeer, joined_peer, no_traceback

Start = Callable[..., ChatProcess]


def headless_server(start: Start, address: tuple[str, int], **kwargs: object) -> ChatProcess:
    server = start(
        ["server", "--headless", "--host", address[0], "--port", str(address[1])],
        name="server",
        **kwargs,
    )
    server.wait_for_output(r"^listening on ")
    return server


def test_operator_commands_in_the_terminal_are_never_sent_as_chat(
    start_process: Start, address: tuple[str, int]
) -> None:
    server = headless_server(start_process, address)
    peer = joined_peer(address)
    server.wait_for_output(r"\* Client joined from ")

    server.send_line("/who")
    server.wait_for_output(r"^\[\d\d:\d\d:\d\d\] \* online: Server, Client$")
    server.send_line("/help")
    server.wait_for_output(r"\* operator commands: /who .*/kick NAME .*/quit ")
    server.send_line("/whoo")
    server.wait_for_output(r"\* error: unknown command /whoo, not sent; type /help ")
    server.send_line("/kick")
    server.wait_for_output(r"\* error: /kick needs a name")
    server.send_line("/kick Nobody")
    server.wait_for_output(r"\* error: nobody called Nobody is online")
    server.send_line("//shrug")
    assert peer.expect_line(r"^Server: ") == "Server: /shrug"  # the first chat it gets

    server.send_line("/kick client too noisy")  # names are case-insensitive
    assert peer.expect_line(r"^\* error: ") == "* error: too noisy; closing"
    peer.wait_closed()
    server.wait_for_output(r"\* Client left \(too noisy\)$")
    assert not any(line.startswith("Server: /") and line != "Server: /shrug" for line in peer.lines)

    server.send_line("/quit")
    assert server.wait() == 0  # stopped as by Ctrl-C
    assert server.stdout.rstrip().endswith("* server stopped")
    assert no_traceback(server.stderr)


def test_quit_tells_the_clients_the_server_is_shutting_down(
    start_process: Start, address: tuple[str, int]
) -> None:
    server = headless_server(start_process, address)
    peer = joined_peer(address)
    server.send_line("/QUIT")
    peer.expect_line(r"^\* server shutting down$")
    peer.wait_closed()
    assert server.wait() == 0


def test_tcpchat_nick_names_the_operator(start_process: Start, address: tuple[str, int]) -> None:
    server = headless_server(start_process, address, env={"TCPCHAT_NICK": "Boss"})
    peer: RawPeer = joined_peer(address)
    server.send_line("Hai client!")
    assert peer.expect_line(r": Hai client!$") == "Boss: Hai client!"
    peer.send_line("/who")
    assert peer.expect_line(r"^\* online: ") == "* online: Boss, Client"


def test_a_flag_beats_tcpchat_nick(start_process: Start, address: tuple[str, int]) -> None:
    server = start_process(
        ["server", "--headless", "--host", address[0], "--nick", "Chief"],
        name="server",
        env={"TCPCHAT_NICK": "Boss"},
    )
    server.wait_for_output(r"^listening on ")
    peer = joined_peer(address)
    server.send_line("hi")
    assert peer.expect_line(r": hi$") == "Chief: hi"


def test_a_bad_tcpchat_nick_is_a_one_line_usage_error(
    start_process: Start, address: tuple[str, int]
) -> None:
    server = start_process(
        ["server", "--headless", "--host", address[0]], name="server", env={"TCPCHAT_NICK": "a b"}
    )
    assert server.wait() == 2
    assert server.stderr == (
        "tcpchat server: TCPCHAT_NICK 'a b': a nickname cannot contain spaces "
        "(see tcpchat server --help)"
    )
