"""Starting a server of a room on Redis, as a real process: Redis down, a taken operator nick."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess

from harness import ChatProcess

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_started_while_redis_is_down_says_so_once_and_starts_when_it_answers(
    redis_server: object,  # marks the test `redis` (skipped, saying why, without redis-server)
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    server = ChatProcess(["server", "--headless", "--port", "0", "--store", url])
    redis = None
    try:
        server.wait_for_error(rf"^tcpchat: .*{port}.*; retrying every 1 s$")
        assert "listening on" not in server.stdout
        redis = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        server.wait_for_output(rf"^room tcpchat on {url}: 0 lines so far$")
        server.wait_for_output(r"^listening on 127\.0\.0\.1:\d+$")
        assert server.stderr.count("retrying") == 1, server.report()
    finally:
        assert server.stop() == 0, server.report()
        if redis is not None:
            redis.terminate()
            redis.wait(15)


def test_a_second_server_with_the_same_operator_nick_exits_2_saying_why(
    redis_url: str, room: str, client: object
) -> None:
    store = ["--store", redis_url, "--room", room, "--port", "0"]
    first = ChatProcess(["server", "--headless", "--nick", "Boss", *store])
    try:
        first.wait_for_output(r"^listening on ")
        second = ChatProcess(["server", "--headless", "--nick", "boss", *store])
        assert second.wait() == 2, second.report()
        taken = rf"tcpchat: the operator nick 'boss' is taken in room '{room}' by server \S+: "
        assert re.fullmatch(taken + "give this server's operator another --nick", second.stderr)
        assert "Traceback" not in second.stderr
    finally:
        assert first.stop() == 0, first.report()
