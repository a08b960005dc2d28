"""The cluster demo in containers: docker/compose.cluster.yaml.

Redis and two chat servers on one room, a client window on each server, every
container from the one tcpchat image, all on the host's network (each test on
its own loopback address, docker/compose.cluster.test.yaml).  The tests type
into one server's client window and watch the line arrive in the other
server's client window, through Redis; screenshots of the four windows and
the containers' logs land in ``artifacts/<test>/``.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from docker_helpers import HEADLESS_FILES, BuiltImage, ComposeProject, docker
from harness import ChatProcess, RawPeer

pytestmark = pytest.mark.docker

CLUSTER_FILES = (
    *HEADLESS_FILES,
    "docker/compose.cluster.yaml",
    "docker/compose.cluster.headless.yaml",
    "docker/compose.cluster.test.yaml",
)
DEMO_FILES = ("compose.yaml", "docker/compose.cluster.yaml")
HEADLESS_DEMO_FILES = (
    "compose.yaml",
    "docker/compose.headless.yaml",
    "docker/compose.cluster.yaml",
    "docker/compose.cluster.headless.yaml",
)
SERVICES = {"redis", "server", "server2", "client", "client2"}
REDIS_PORT = 6390
PORTS = {"server": 9001, "server2": 9002}  # the clients' too: client → server, client2 → server2
OPERATORS = {"server": "server1", "server2": "server2"}
NICKS = {"client": "guest", "client2": "guest2"}
ROOM = "demo"
WINDOWS = {  # window titles, as xdotool regexes
    "server": "tcpchat server",
    "server2": "tcpchat server",
    "client": "tcpchat client",
    "client2": "tcpchat client",
}
UP_TIMEOUT = 120.0  # five containers, three healthchecks in a row, on a shared 2-core machine


def config(files: tuple[str, ...], env: dict[str, str]) -> dict[str, Any]:
    """``docker compose config`` of *files*, as JSON."""
    options = [part for file in files for part in ("-f", file)]
    done = docker("compose", *options, "config", "--format", "json", env=env)
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def option(command: list[str], name: str) -> str:
    """The value after *name* in *command*."""
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def redis_call(host: str, *words: str) -> bytes:
    """One command to the Redis at *host*:REDIS_PORT in RESP, its raw reply (small replies)."""
    request = f"*{len(words)}\r\n".encode()
    for word in words:
        request += f"${len(word.encode())}\r\n{word}\r\n".encode()
    with socket.create_connection((host, REDIS_PORT), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(65536)


@pytest.fixture
def cluster_stack(
    request: pytest.FixtureRequest,
    tcpchat_image: BuiltImage,
    address: tuple[str, int],
    tmp_path: Path,
) -> Iterator[ComposeProject]:
    """The cluster demo, headless, on this test's loopback address; down at the end."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    project = ComposeProject(
        f"tcpchat-{name[:40]}-{uuid.uuid4().hex[:6]}",
        CLUSTER_FILES,
        tcpchat_image.testing,
        address[0],
        tmp_path / "screens",
    )
    project.env["TCPCHAT_CLUSTER_HOST"] = address[0]
    for service in ("server2", "client2"):  # ComposeProject makes server's and client's
        folder = project.screens / service
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o777)  # Xvfb runs as the image's user
    try:
        yield project
    finally:
        project.down()
        label = f"label=com.docker.compose.project={project.name}"
        left = docker("ps", "--all", "--quiet", "--filter", label).stdout.split()
        assert not left, f"containers left after `docker compose down`: {left}"


def follow_logs(
    stack: ComposeProject, start_process: Callable[..., ChatProcess], service: str
) -> ChatProcess:
    """Collect a container's log as it grows (saved with a failing test's report)."""
    return start_process([], command=stack.log_command(service), name=f"{service} container")


def test_cluster_compose_files_are_valid_and_on_the_hosts_loopback(docker_engine: None) -> None:
    """`docker compose config` accepts the cluster demo (desktop, headless, under test);
    five services, every one on the host's network; Redis without persistence on a port
    of its own; two servers on one room with their own ports and operator nicks; each
    client on its own server; the four windows on the desktop, or each on its own Xvfb."""
    env = {"TCPCHAT_TEST_HOST": "127.0.0.1", "TCPCHAT_TEST_SCREENS": "/tmp"}
    for files in (DEMO_FILES, HEADLESS_DEMO_FILES, CLUSTER_FILES):
        services = config(files, env)["services"]
        assert set(services) == SERVICES, files
        for name, service in services.items():
            assert service["network_mode"] == "host", f"{name} in {files}"
            assert not service.get("ports"), f"{name} publishes ports in {files}"
            assert service["pull_policy"] in ("build", "never"), f"{name} could be pulled"
        redis = services["redis"]["command"]
        assert option(redis, "--bind") == "127.0.0.1"
        assert option(redis, "--port") == str(REDIS_PORT)
        assert option(redis, "--save") == ""
        assert option(redis, "--appendonly") == "no"
        for server, port in PORTS.items():
            command = services[server]["command"]
            assert option(command, "--store") == f"redis://127.0.0.1:{REDIS_PORT}"
            assert option(command, "--room") == ROOM
            assert option(command, "--nick") == OPERATORS[server]
            assert services[server]["environment"]["TCPCHAT_PORT"] == str(port)
            assert services[server]["depends_on"]["redis"]["condition"] == "service_healthy"
        for client, server in (("client", "server"), ("client2", "server2")):
            environment = services[client]["environment"]
            assert environment["TCPCHAT_PORT"] == str(PORTS[server])
            assert environment["TCPCHAT_NICK"] == NICKS[client]
            assert services[client]["depends_on"][server]["condition"] == "service_healthy"
    # Each window on the desktop's display (the X socket and the cookie mounted),
    # or, headless, on an Xvfb of its own with nothing of the host's X.
    for files, headless in ((DEMO_FILES, False), (HEADLESS_DEMO_FILES, True)):
        services = config(files, env)["services"]
        for name in WINDOWS:
            environment = services[name]["environment"]
            targets = {volume["target"] for volume in services[name].get("volumes", [])}
            if headless:
                assert environment["TCPCHAT_XVFB"] == "1", name
                assert not targets, name
            else:
                assert environment["XAUTHORITY"] == "/run/tcpchat/xauth", name
                assert targets == {"/tmp/.X11-unix", "/run/tcpchat/xauth"}, name
    # Clear of the plain demo's 9000 and of a Redis on its default port.
    assert {9000, 6379}.isdisjoint({*PORTS.values(), REDIS_PORT})
    assert len(set(OPERATORS.values())) == len(OPERATORS)


def test_redis_container_runs_from_the_tcpchat_image_without_persistence(
    cluster_stack: ComposeProject, tcpchat_image: BuiltImage
) -> None:
    """The image holds redis-server and redis-py (the redis extra); the `redis`
    service turns healthy on the test's address and keeps nothing on disk."""
    done = docker(
        "run", "--rm", "--network", "host", "--init", "--entrypoint", "sh",
        tcpchat_image.runtime, "-c",
        "redis-server --version; python3 -c 'import redis; print(redis.__version__)'",
    )  # fmt: skip
    server_version, redis_py = done.stdout.split("\n")[:2]
    assert server_version.startswith("Redis server v=7")
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", redis_py)

    cluster_stack.up("redis")
    health = docker(
        "inspect", "--format", "{{.State.Health.Status}}", cluster_stack.container("redis")
    )
    assert health.stdout.strip() == "healthy"
    host = cluster_stack.host
    assert redis_call(host, "PING") == b"+PONG\r\n"
    assert redis_call(host, "CONFIG", "GET", "appendonly").endswith(b"$2\r\nno\r\n")
    assert redis_call(host, "CONFIG", "GET", "save").endswith(b"$4\r\nsave\r\n$0\r\n\r\n")


def test_a_line_typed_in_server_1s_client_window_appears_in_server_2s_client_window(
    cluster_stack: ComposeProject,
    start_process: Callable[..., ChatProcess],
    raw_peer: Callable[..., RawPeer],
    artifacts_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`docker compose -f compose.yaml -f docker/compose.cluster.yaml up` (headless):
    Redis, two servers on one room, a client window on each.  A line typed into the
    client window on server 1 reaches the client window on server 2 (and a raw peer on
    server 2), and back; both client windows show the chat in
    one order; /who on server 2 lists the people on both servers.  Screenshots of the
    four windows are taken inside their containers."""
    stack = cluster_stack
    host = stack.host
    stack.compose("up", "--detach", "--no-build", "--wait", timeout=UP_TIMEOUT)
    logs = {service: follow_logs(stack, start_process, service) for service in WINDOWS}
    for server, port in PORTS.items():
        logs[server].wait_for_output(rf"\* listening on {re.escape(host)}:{port}\b")
    for client, nick in NICKS.items():
        logs[client].wait_for_output(rf"\* welcome, you are {nick}\b")

    # A raw socket on the host, on server 2: what crosses servers crosses the wire too.
    peer = raw_peer(host, PORTS["server2"])
    peer.expect_line(r"^\* welcome, you are ")
    peer.send_line("/nick host")
    peer.expect_line(r"is now host$")

    # Typed into the client window on server 1...
    stack.type_into("client", WINDOWS["client"], "hello from server 1")
    # ...it reaches the client window on server 2, and the raw peer there.
    logs["client2"].wait_for_output(r"\bguest: hello from server 1$")
    peer.expect_line(r"^guest: hello from server 1$")
    # ...and the other server's operator window hears it too (the whole room).
    logs["server2"].wait_for_output(r"\bguest: hello from server 1$")

    # And back: typed on server 2, seen on server 1.
    stack.type_into("client2", WINDOWS["client2"], "hello from server 2")
    logs["client"].wait_for_output(r"\bguest2: hello from server 2$")
    peer.expect_line(r"^guest2: hello from server 2$")

    # Both client windows show the chat in one order (the room's stream's).
    peer.send_line("hello from the host")
    for client in NICKS:
        logs[client].wait_for_output(r"\bhost: hello from the host$")

    def chat(log: ChatProcess) -> list[str]:
        lines = [re.sub(r"^\[[0-9:]+\] ", "", line) for line in log.stdout.splitlines()]
        return [line for line in lines if re.match(r"(guest2?|host): hello from ", line)]

    expected = [
        "guest: hello from server 1",
        "guest2: hello from server 2",
        "host: hello from the host",
    ]
    assert chat(logs["client"]) == expected
    assert chat(logs["client2"]) == expected

    # /who on server 2 names everyone in the room, on either server.
    peer.send_line("/who")
    online = peer.expect_line(r"^\* online: ")
    for nick in (*OPERATORS.values(), *NICKS.values(), "host"):
        assert re.search(rf"\b{nick}\b", online), f"{nick} missing from {online!r}"

    # Screenshots from each container's own Xvfb screen.  Every window logs a
    # batch after drawing it, so the lines waited for above are on screen.
    for service, title in WINDOWS.items():
        x, y, width, height = stack.window_geometry(service, title)
        shot = stack.screen(service).crop(x, y, width, height)
        assert shot.colours() > 16, f"the {service} window looks blank"
        (artifacts_dir / f"{service}-window.png").write_bytes(shot.png())
    with capsys.disabled():
        print()
        for service, log in logs.items():
            (artifacts_dir / f"{service}-container.log").write_text(log.stdout, encoding="utf-8")
            print(f"--- {service} container: docker logs ---\n{log.stdout}")
