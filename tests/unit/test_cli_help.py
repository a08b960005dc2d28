"""``tcpchat … --help`` (issue 14 item 6): every default shown, from the environment when
set; examples; the slash commands; and the README's usage block in step with the options."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tcpchat import cli, operator
from tcpchat.cli_help import CLIENT_COMMANDS, build_parser
from tcpchat.server import ChatServer

README = Path(__file__).resolve().parents[2] / "README.md"


def help_of(
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    **environ: str,
) -> str:
    """What ``tcpchat COMMAND --help`` prints, run in-process with *environ* set."""
    for name in ("TCPCHAT_HOST", "TCPCHAT_PORT", "TCPCHAT_NICK", "TCPCHAT_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"] if command else ["--help"])
    assert exited.value.code == 0
    # one line per option: argparse wraps long help over several lines
    return re.sub(r"\n {20,}", " ", capsys.readouterr().out)


def option_help(text: str, flag: str) -> str:
    found = re.search(rf"^  {re.escape(flag)}\b.*$", text, re.MULTILINE)
    assert found, f"{flag} not in the help"
    return found.group(0)


def commands() -> dict[str, argparse.ArgumentParser]:
    subparsers = next(
        action
        for action in build_parser({})._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return dict(subparsers.choices)


@pytest.mark.parametrize("command", ["server", "client", "demo"])
def test_every_option_that_takes_a_value_shows_its_default(command: str) -> None:
    for action in commands()[command]._actions:
        if action.nargs == 0:  # --help, --headless, --tls: flags, on or off
            continue
        assert "default" in (action.help or ""), (command, action.option_strings)


def test_max_clients_and_max_line_bytes_show_the_servers_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of("server", monkeypatch, capsys)
    assert option_help(text, "--max-clients").endswith(f"(default {ChatServer.max_clients})")
    assert f"(default {ChatServer.max_line_bytes})" in option_help(text, "--max-line-bytes")


def test_the_environment_is_the_default_the_help_shows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(
        "server",
        monkeypatch,
        capsys,
        TCPCHAT_PORT="9001",
        TCPCHAT_NICK="Boss",
        TCPCHAT_HOST="127.0.0.9",
        TCPCHAT_PASSWORD="secret-value",
    )
    assert option_help(text, "--port").endswith("(default 9001, from TCPCHAT_PORT)")
    assert "9000" not in option_help(text, "--port")
    assert option_help(text, "--host").endswith("(default 127.0.0.9, from TCPCHAT_HOST)")
    assert option_help(text, "--nick").endswith("(default Boss, from TCPCHAT_NICK)")
    assert option_help(text, "--password").endswith("(default: TCPCHAT_PASSWORD, set)")
    assert "secret-value" not in text  # a password is never printed


def test_without_the_environment_the_help_shows_the_built_in_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of("client", monkeypatch, capsys)
    assert option_help(text, "--port").endswith("(default 9000)")
    assert option_help(text, "--host").endswith("(default 127.0.0.1)")
    assert option_help(text, "--password").endswith("(default: TCPCHAT_PASSWORD, unset)")


def test_a_bad_environment_value_is_named_in_the_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of("server", monkeypatch, capsys, TCPCHAT_PORT="ninety", TCPCHAT_NICK="a b")
    assert "refused: TCPCHAT_PORT: 'ninety' is not a port number" in option_help(text, "--port")
    assert "refused: TCPCHAT_NICK 'a b'" in option_help(text, "--nick")


@pytest.mark.parametrize("command", ["", "server", "client", "demo"])
def test_every_help_ends_with_examples(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(command, monkeypatch, capsys)
    examples = text.split("\nexamples:\n", 1)[1]
    assert len(re.findall(r"^  tcpchat ", examples, re.MULTILINE)) >= 2


def test_the_client_help_lists_the_chat_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of("client", monkeypatch, capsys)
    for usage in ("/nick NAME", "/who", "/help", "/quit", "//TEXT"):
        assert re.search(rf"^  {re.escape(usage)} ", text, re.MULTILINE), usage
    assert [usage for usage, _ in CLIENT_COMMANDS][:4] == ["/nick NAME", "/who", "/help", "/quit"]


def test_the_server_help_lists_the_operator_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of("server", monkeypatch, capsys)
    for usage, what in operator.COMMANDS:
        assert re.search(rf"^  {re.escape(usage)} +{re.escape(what)}$", text, re.MULTILINE)


def test_the_readme_usage_block_shows_every_commands_options() -> None:
    readme = README.read_text(encoding="utf-8")
    block = readme.split("## Using it", 1)[1].split("```", 2)[1]
    for command, parser in commands().items():
        usage = block.split(f"tcpchat {command}", 1)[1].split("\ntcpchat ", 1)[0]
        for action in parser._actions:
            flags = [flag for flag in action.option_strings if flag.startswith("--")]
            if not flags or flags[0] in ("--help",) or flags[0] in {f for f, *_ in cli.LIMIT_FLAGS}:
                continue
            if action.container.title == "security and limits" and flags[0] not in (
                "--tls-cert",
                "--tls-key",
                "--password",
            ):
                continue
            assert flags[0] in usage, f"README's usage of tcpchat {command} lacks {flags[0]}"


def test_the_readme_documents_the_operator_commands() -> None:
    readme = README.read_text(encoding="utf-8")
    for usage, _ in operator.COMMANDS:
        assert usage.split()[0].replace("TEXT", "shrug") in readme, usage
