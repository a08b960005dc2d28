"""The cluster's command-line options: combinations that cannot work are usage errors (2)."""

from __future__ import annotations

import pytest

from tcpchat.cli import _settings, main
from tcpchat.cli_help import build_parser


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--room", "lobby"], "--room goes with --store redis://HOST:PORT"),
        (["--lease", "3", "--store", "/tmp/x"], "--lease goes with --store redis://HOST:PORT"),
        (["--store-maxlen", "9"], "--store-maxlen goes with --store redis://HOST:PORT"),
        (["--store", "redis://127.0.0.1:1", "--fsync"], "--fsync goes with --store DIR"),
    ],
)
def test_cluster_options_without_a_redis_store_are_usage_errors(
    words: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["server", "--headless", *words])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_room_comes_from_the_environment_and_still_needs_redis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TCPCHAT_ROOM", "lobby")
    with pytest.raises(SystemExit) as exit_info:
        main(["server", "--headless"])
    assert exit_info.value.code == 2
    assert "--room goes with --store redis://" in capsys.readouterr().err


def test_server_and_host_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["client", "--headless", "--server", "127.0.0.1:9000", "--port", "9001"])
    assert exit_info.value.code == 2
    assert "give it or --host/--port, not both" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("words", "env", "message"),
    [
        (["--server", "127.0.0.1:0"], "", "--server: bad server address '127.0.0.1:0'"),
        ([], "127.0.0.1:9000,,", "TCPCHAT_SERVERS: "),
    ],
)
def test_a_bad_server_address_is_a_usage_error_naming_where_it_came_from(
    words: list[str],
    env: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TCPCHAT_SERVERS", env)
    with pytest.raises(SystemExit) as exit_info:
        main(["client", "--headless", *words])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_several_servers_mean_reconnecting_and_the_first_is_where_it_starts() -> None:
    parser = build_parser()
    args = parser.parse_args(["client", "--server", "127.0.0.2:9001", "--server", "[::1]"])
    settings = _settings(parser, args)
    assert settings.servers == (("127.0.0.2", 9001), ("::1", 9000))
    assert (settings.host, settings.port) == ("127.0.0.2", 9001)
    assert settings.reconnect
    one = _settings(parser, parser.parse_args(["client", "--server", "127.0.0.2:9001"]))
    assert not one.reconnect
