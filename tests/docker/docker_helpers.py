"""Helpers for the container tests: the docker CLI, one compose project per test.

Every container of these tests uses the host network (the test machines'
daemon has no bridge) and the test's own loopback address, so tests can run
in parallel and only loopback traffic ever flows.  See docker/compose.test.yaml.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from pathlib import Path
from typing import Iterator, Sequence

from xwd import Image, read_xwd

REPO_ROOT = Path(__file__).resolve().parents[2]
DESKTOP_FILES = ("compose.yaml", "docker/compose.test.yaml")
HEADLESS_FILES = ("compose.yaml", "docker/compose.headless.yaml", "docker/compose.test.yaml")
REGISTRY_FREE_BASE = "tcpchat-base:bookworm"  # the default of docker/build-base-image.sh
OFFICIAL_BASE = "python:3.12-slim"
SCREEN_IN_CONTAINER = "Xvfb_screen0"  # what `Xvfb -fbdir` names its screen file
IMAGE_USER_ID = 1000  # the Dockerfile's `USER 1000:1000`
TIMEOUT = 60.0
BUILD_TIMEOUT = 600.0


def docker(
    *args: str, timeout: float = TIMEOUT, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS…``; on failure, raise with the command and its output."""
    done = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"$ docker {shlex.join(args)}\n(exit code {done.returncode})\n"
            f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        )
    return done


def engine_problem() -> str | None:
    """Why no container test can run here, or None if an engine and compose v2 answer."""
    try:
        if docker("version", "--format", "{{.Server.Version}}", check=False).returncode:
            return "no Docker engine answers (run .ci/docker-setup.sh)"
        if docker("compose", "version", check=False).returncode:
            return "the compose v2 plugin is missing (run .ci/docker-setup.sh)"
    except FileNotFoundError:
        return "the docker command is not installed (run .ci/docker-setup.sh)"
    return None


def base_image() -> str:
    """The image to build on.

    $PYTHON_IMAGE if set (the Dockerfile's own argument); else the
    registry-free base ($TCPCHAT_BASE_IMAGE, as .ci/docker-setup.sh names it)
    if it has been built; else the official image, from a registry.
    """
    chosen = os.environ.get("PYTHON_IMAGE")
    if chosen:
        return chosen
    registry_free = os.environ.get("TCPCHAT_BASE_IMAGE") or REGISTRY_FREE_BASE
    if docker("image", "inspect", registry_free, check=False).returncode == 0:
        return registry_free
    return OFFICIAL_BASE


class BuiltImage:
    """The tags built for this session and how long the build took."""

    def __init__(self, runtime: str, testing: str, base: str, seconds: float) -> None:
        self.runtime = runtime  # the shipped image, as the Dockerfile builds it
        self.testing = testing  # the same plus xdotool (tests/docker/xdotool.Dockerfile)
        self.base = base
        self.build_seconds = seconds


class ComposeProject:
    """``docker compose -p NAME -f …`` for one test, with its own address and screens."""

    def __init__(
        self, name: str, files: Sequence[str], image: str, host: str, screens: Path
    ) -> None:
        self.name = name
        self.host = host  # this test's loopback address; the port is 9000
        self.files = list(files)
        self.screens = screens
        self.env = {
            "TCPCHAT_IMAGE": image,
            "TCPCHAT_TEST_HOST": host,
            "TCPCHAT_TEST_SCREENS": str(screens),
            # Builds, if any, use the classic builder: its cache is the one
            # `docker build` fills, and the engine here has no buildx.
            "DOCKER_BUILDKIT": "0",
        }
        for service in ("server", "client"):
            # Xvfb runs as the image's user; the folders are the test's own.
            folder = screens / service
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o777)

    def compose(self, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        options = ["-p", self.name]
        for file in self.files:
            options += ["-f", file]
        return docker("compose", *options, *args, timeout=timeout, env=self.env)

    def up(self, *services: str) -> None:
        """Start the services (never building) and wait until they run, the server healthy."""
        self.compose("up", "--detach", "--no-build", "--wait", *services)

    def down(self) -> None:
        """Remove the containers, whatever state they are in."""
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5")

    def container(self, service: str) -> str:
        return self.compose("ps", "--all", "--quiet", service).stdout.strip()

    def log_command(self, service: str) -> list[str]:
        """A command following one container's log.

        ``docker logs`` rather than ``docker compose logs``: compose prefixes
        every line with ESC[2K when not on a terminal, even with --ansi never.
        """
        return ["docker", "logs", "--follow", self.container(service)]

    def x11(self, service: str, command: str, timeout: float = TIMEOUT) -> str:
        """Run a shell *command* in *service* on the display its entrypoint started."""
        # `docker exec` does not see the entrypoint's environment; the
        # entrypoint left DISPLAY and XAUTHORITY in /tmp/tcpchat-x11.env.
        script = f". /tmp/tcpchat-x11.env && {command}"
        done = self.compose("exec", "-T", service, "sh", "-c", script, timeout=timeout)
        return done.stdout.strip()

    def window_geometry(self, service: str, title: str) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the window whose title matches, once it is shown."""
        found = self.x11(
            service,
            f"xdotool search --sync --onlyvisible --name {shlex.quote(title)}"
            " getwindowgeometry --shell",
        )
        values = dict(line.split("=", 1) for line in found.splitlines() if "=" in line)
        return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])

    def type_into(self, service: str, title: str, text: str) -> None:
        """Type *text* and Return into *service*'s window whose title matches.

        Xvfb has no window manager, so nothing gives the window the keyboard:
        xdotool focuses it explicitly first.
        """
        self.x11(
            service,
            f"xdotool search --sync --onlyvisible --name {shlex.quote(title)}"
            f" windowfocus --sync type --delay 20 {shlex.quote(text)}"
            " && xdotool key Return",
        )

    def screen(self, service: str) -> Image:
        """The screen of *service*'s own Xvfb, as it is now (a screenshot)."""
        return read_xwd((self.screens / service / SCREEN_IN_CONTAINER).read_bytes())


@contextlib.contextmanager
def host_xvfb(auth_file: Path, fbdir: Path) -> Iterator[str]:
    """An Xvfb on the host that admits only holders of *auth_file*'s cookie: its DISPLAY.

    It picks a free display number itself (-displayfd), so it never takes
    over another X server's number, and keeps its screen in *fbdir*.
    """
    fbdir.mkdir(parents=True, exist_ok=True)
    cookie = os.urandom(16).hex()
    auth_file.touch(mode=0o600)
    subprocess.run(
        ["xauth", "-q", "-f", str(auth_file), "add", ":0", ".", cookie], check=True, timeout=10
    )
    read_end, write_end = os.pipe()
    command = ["Xvfb", "-displayfd", str(write_end), "-auth", str(auth_file)]
    command += ["-nolisten", "tcp", "-screen", "0", "1024x768x24", "-fbdir", str(fbdir)]
    xvfb = subprocess.Popen(
        command,
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers:
            number = numbers.readline().strip()  # written once Xvfb accepts clients
        if not number:
            raise AssertionError(f"host Xvfb did not start (exit code {xvfb.wait(10)})")
        display = f":{number}"
        # The cookie under the real display number, for clients on the host.
        subprocess.run(
            ["xauth", "-q", "-f", str(auth_file), "add", display, ".", cookie],
            check=True,
            timeout=10,
        )
        yield display
    finally:
        xvfb.terminate()
        try:
            xvfb.wait(10)
        except subprocess.TimeoutExpired:
            xvfb.kill()
            xvfb.wait(10)


def wildcard_cookie(auth_file: Path, display: str, into: Path) -> None:
    """Copy *display*'s cookie into *into* for any host name (family ffff).

    A container has its own host name, so a cookie bound to the host's name
    would not match there: the documented `xauth nlist | sed | xauth nmerge`.
    """
    into.touch(mode=0o600)
    listed = subprocess.run(
        ["xauth", "-f", str(auth_file), "nlist", display],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    wildcard = "".join("ffff" + line[4:] + "\n" for line in listed.splitlines())
    subprocess.run(
        ["xauth", "-f", str(into), "nmerge", "-"], input=wildcard, check=True, text=True, timeout=10
    )
