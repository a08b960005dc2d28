"""Container tests: the image, `docker compose up`, windows in containers, X forwarding.

Run with ``tox -e docker`` (``pytest -m docker tests/docker``) after
``.ci/docker-setup.sh``.  Each test's name says what it proves; screenshots
and container logs land in ``artifacts/<test>/``.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Callable

import pytest
from docker_helpers import (
    DESKTOP_FILES,
    HEADLESS_FILES,
    IMAGE_USER_ID,
    BuiltImage,
    ComposeProject,
    docker,
    host_xvfb,
    wildcard_cookie,
)
from harness import ChatProcess, RawPeer
from xwd import read_xwd

pytestmark = pytest.mark.docker

CLIENT_NICK = "guest"  # compose.yaml's default TCPCHAT_NICK
SERVER_WINDOW = "tcpchat server"  # window titles, as xdotool regexes
CLIENT_WINDOW = "tcpchat client"


def follow_logs(
    stack: ComposeProject, start_process: Callable[..., ChatProcess], service: str
) -> ChatProcess:
    """Collect a container's log as it grows (saved with a failing test's report)."""
    return start_process([], command=stack.log_command(service), name=f"{service} container")


def test_compose_files_are_valid(docker_engine: None) -> None:
    """`docker compose config` accepts the desktop, headless and test variants."""
    env = {"TCPCHAT_TEST_HOST": "127.0.0.1", "TCPCHAT_TEST_SCREENS": "/tmp"}
    for files in (("compose.yaml",), HEADLESS_FILES, DESKTOP_FILES):
        options = [part for file in files for part in ("-f", file)]
        docker("compose", *options, "config", "--quiet", env=env)


def test_image_runs_as_non_root_with_tk_xvfb_and_a_healthcheck(
    tcpchat_image: BuiltImage, artifacts_dir: Path
) -> None:
    """The shipped image: an unprivileged user, Tk 8.6, Xvfb and xauth; port 9000
    and the server's healthcheck declared."""
    done = docker(
        "run", "--rm", "--network", "host", "--init", tcpchat_image.runtime, "sh", "-c",
        "id -u; python3 -c 'import tkinter; print(tkinter.TkVersion)';"
        " command -v Xvfb; command -v xauth; tcpchat --version",
    )  # fmt: skip
    uid, tk_version, xvfb, xauth, version = done.stdout.split("\n")[:5]
    assert int(uid) == IMAGE_USER_ID
    assert tk_version == "8.6"
    assert xvfb.endswith("/Xvfb")
    assert xauth.endswith("/xauth")
    assert version.startswith("tcpchat ")
    config = json.loads(docker("image", "inspect", tcpchat_image.runtime).stdout)[0]["Config"]
    assert "9000/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][-1] == "/usr/local/bin/tcpchat-healthcheck"
    size = int(docker("image", "inspect", "--format", "{{.Size}}", tcpchat_image.runtime).stdout)
    (artifacts_dir / "image.txt").write_text(
        f"base: {tcpchat_image.base}\nsize: {size / 1e6:.0f} MB\n"
        f"build (this session): {tcpchat_image.build_seconds:.1f} s\n",
        encoding="utf-8",
    )


def layers_of(image: str) -> list[str]:
    """The digests of *image*'s file system layers, base first."""
    found = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image).stdout
    return list(json.loads(found))


def test_compose_build_reuses_the_layers_docker_build_made(
    tcpchat_image: BuiltImage, address: tuple[str, int], tmp_path: Path
) -> None:
    """compose.yaml's build section (target, base image argument, host network
    for the build) makes the image `docker build` makes, from its layer cache."""
    tag = f"{tcpchat_image.runtime}-compose"
    env = {
        "TCPCHAT_IMAGE": tag,
        "PYTHON_IMAGE": tcpchat_image.base,
        "TCPCHAT_TEST_HOST": address[0],
        "TCPCHAT_TEST_SCREENS": str(tmp_path),
        "DOCKER_BUILDKIT": "0",  # the classic builder, whose cache the session's build filled
    }
    options = [part for file in DESKTOP_FILES for part in ("-f", file)]
    try:
        docker("compose", *options, "build", "server", env=env)
        # Compose adds its own labels to the image's configuration, so the ids
        # differ; the base's layers and the system packages' layer (the slow
        # one) must be the very ones `docker build` made.  Later layers hold
        # the source, which may have been edited since the session's build.
        shared = len(layers_of(tcpchat_image.base)) + 1
        assert layers_of(tag)[:shared] == layers_of(tcpchat_image.runtime)[:shared]
        assert len(layers_of(tag)) == len(layers_of(tcpchat_image.runtime))
    finally:
        docker("image", "rm", tag, check=False)  # only the tag: the image is the session's


def test_server_and_client_windows_in_two_containers_exchange_messages(
    headless_stack: ComposeProject,
    start_process: Callable[..., ChatProcess],
    raw_peer: Callable[..., RawPeer],
    artifacts_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`docker compose up` (headless variant): the server window and a client window,
    each in its container on its own Xvfb, chat with each other and with a raw
    peer on the host; both containers' logs show both sides; screenshots of both
    windows are taken inside the containers."""
    stack = headless_stack
    stack.up()  # returns once the server is healthy and the client runs
    server = follow_logs(stack, start_process, "server")
    client = follow_logs(stack, start_process, "client")

    # Each container started its own X server, on a display number of its own.
    server_display = server.wait_for_error(r"started Xvfb on display (:\d+)").group(1)
    client_display = client.wait_for_error(r"started Xvfb on display (:\d+)").group(1)
    assert server_display != client_display
    server.wait_for_output(rf"\* listening on {re.escape(stack.host)}:9000")
    client.wait_for_output(r"\* welcome, you are ")
    health = docker("inspect", "--format", "{{.State.Health.Status}}", stack.container("server"))
    assert health.stdout.strip() == "healthy"

    peer = raw_peer()
    peer.expect_line(r"^\* welcome, you are ")
    peer.send_line("/nick host")
    peer.expect_line(r"is now host$")

    # Typed into the client window, in the client container...
    stack.type_into("client", CLIENT_WINDOW, "hello from the client window")
    # ...it reaches the raw peer on the host and both windows.
    peer.expect_line(rf"^{CLIENT_NICK}: hello from the client window$")
    server.wait_for_output(rf"{CLIENT_NICK}: hello from the client window")
    client.wait_for_output(rf"{CLIENT_NICK}: hello from the client window")

    # Typed into the server window (the operator), in the server container.
    stack.type_into("server", SERVER_WINDOW, "hello from the server window")
    peer.expect_line(r"^Server: hello from the server window$")
    client.wait_for_output(r"Server: hello from the server window")

    # From the host to both windows.
    peer.send_line("hello from the host")
    server.wait_for_output(r"host: hello from the host")
    client.wait_for_output(r"host: hello from the host")

    # Screenshots from the containers' own Xvfb screens.  The windows log a
    # batch after drawing it, and drew the client's message several poll ticks
    # before the host's message was logged, so it is on screen now.
    for service, title in (("server", SERVER_WINDOW), ("client", CLIENT_WINDOW)):
        x, y, width, height = stack.window_geometry(service, title)
        shot = stack.screen(service).crop(x, y, width, height)
        assert shot.colours() > 16, f"the {service} window looks blank"
        (artifacts_dir / f"{service}-window.png").write_bytes(shot.png())
    # The containers' logs, kept and shown in the test run's output, so a CI
    # log shows the messages crossing from one container's window to another's.
    with capsys.disabled():
        print()
        for name, process in (("server", server), ("client", client)):
            (artifacts_dir / f"{name}-container.log").write_text(process.stdout, encoding="utf-8")
            print(f"--- {name} window container: docker logs ---\n{process.stdout}")


def test_stop_is_instant_and_down_leaves_no_container(
    headless_stack: ComposeProject, start_process: Callable[..., ChatProcess]
) -> None:
    """`init: true` forwards SIGTERM, so every process ends by itself (exit 0) instead of
    being killed (137) at the end of Docker's grace; `docker compose down` removes every
    container of the project.  How long the stop took is printed, not asserted."""
    headless_stack.up()
    follow_logs(headless_stack, start_process, "client").wait_for_output(r"\* welcome")
    started = time.monotonic()
    headless_stack.compose("stop", "--timeout", "10")
    print(f"compose stop took {time.monotonic() - started:.1f} s (Docker's grace: 10 s)")
    for service in ("server", "client"):
        state = docker(
            "inspect", "--format", "{{.State.ExitCode}}", headless_stack.container(service)
        )
        assert state.stdout.strip() == "0", f"{service} did not end on SIGTERM by itself"
    headless_stack.down()
    left = docker(
        "ps",
        "--all",
        "--quiet",
        "--filter",
        f"label=com.docker.compose.project={headless_stack.name}",
    )
    assert left.stdout.strip() == ""


def test_terminal_client_in_a_container_chats_with_a_host_server(
    tcpchat_image: BuiltImage,
    server: ChatProcess,
    raw_peer: Callable[..., RawPeer],
    address: tuple[str, int],
    start_process: Callable[..., ChatProcess],
) -> None:
    """The image also runs the --headless terminal client: stdin and stdout pass
    through `docker run -i`, and it reaches a server on the host's loopback."""
    peer = raw_peer()
    peer.expect_line(r"^\* welcome")
    client = start_process(
        [],
        command=[
            "docker", "run", "--rm", "--interactive", "--init", "--network", "host",
            tcpchat_image.runtime, "tcpchat", "client", "--headless",
            "--host", address[0], "--port", str(address[1]), "--nick", "boxed",
        ],
        name="terminal client container",
    )  # fmt: skip
    client.wait_for_output(r"^\* welcome, you are ")
    client.send_line("typed into a container")
    peer.expect_line(r"^boxed: typed into a container$")
    peer.send_line("seen in a container")
    client.wait_for_output(r": seen in a container$")
    client.close_stdin()  # end of input: the client says goodbye and exits 0
    assert client.wait() == 0


def test_windows_forwarded_to_a_host_display_with_a_wildcard_cookie(
    desktop_stack: ComposeProject,
    start_process: Callable[..., ChatProcess],
    tmp_path: Path,
    artifacts_dir: Path,
) -> None:
    """The desktop path of `docker compose up`: DISPLAY passed through,
    /tmp/.X11-unix mounted, a wildcard cookie as XAUTHORITY.  Both windows open
    on an X server of the host that admits only cookie holders, and without the
    cookie a container is refused."""
    host_auth = tmp_path / "host.xauth"
    host_screen = tmp_path / "host-screen"
    with host_xvfb(host_auth, host_screen) as display:
        cookie = tmp_path / "tcpchat.xauth"
        wildcard_cookie(host_auth, display, cookie)
        # As on a desktop, the cookie file belongs to the user the containers
        # run as (compose.yaml: user ${TCPCHAT_UID:-1000}), mode 600.
        if os.geteuid() == 0:
            os.chown(cookie, IMAGE_USER_ID, IMAGE_USER_ID)
        desktop_stack.env.update(DISPLAY=display, TCPCHAT_XAUTH=str(cookie))
        desktop_stack.up()
        server = follow_logs(desktop_stack, start_process, "server")
        client = follow_logs(desktop_stack, start_process, "client")
        server.wait_for_output(r"\* listening on ")
        client.wait_for_output(r"\* welcome, you are ")
        # The windows are on the host's display: the host's xdotool finds them.
        host_env = {"DISPLAY": display, "XAUTHORITY": str(host_auth)}
        for title in (SERVER_WINDOW, CLIENT_WINDOW):
            found = start_process(
                [], command=["xdotool", "search", "--sync", "--onlyvisible", "--name", title],
                env=host_env, name=f"xdotool search {title}",
            )  # fmt: skip
            assert found.wait() == 0
        screen = read_xwd((host_screen / "Xvfb_screen0").read_bytes())
        (artifacts_dir / "host-display.png").write_bytes(screen.png())

        # Without the cookie the same container cannot open its window.
        refused = docker(
            "run", "--rm", "--network", "host", "--init", "--env", f"DISPLAY={display}",
            "--volume", "/tmp/.X11-unix:/tmp/.X11-unix:ro", desktop_stack.env["TCPCHAT_IMAGE"],
            "tcpchat", "client", "--host", "127.0.0.1", check=False,
        )  # fmt: skip
        assert refused.returncode == 2
        assert "cannot open a window" in refused.stderr
        # Stop the windows while their display still exists.
        desktop_stack.down()
