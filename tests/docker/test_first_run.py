"""A newcomer's first ten minutes, on a fresh Debian bookworm with Debian's own Python.

The container has only what the README's quick start names: Debian's ``python3``,
``python3-tk`` and ``python3-venv`` (no pip on the system, no pyenv; the system
Python refuses a system-wide ``pip install``, PEP 668), plus the packages the
README names for the GUI and interop tests.  In it, from a copy of the clone:

1. the README's run command, the headless pair ``python3 -m tcpchat server
   --headless`` and ``python3 -m tcpchat client --headless``, with nothing
   installed: a line typed into the client reaches the server;
2. the README's test command, ``./scripts/test``, for the container's one Python
   (``-e py311``: the whole py311 environment, not the matrix, which needs
   interpreters Debian bookworm does not have), passes; what cannot run there is
   reported as skipped with its reason (pytest's ``-ra``) and saved as an artefact.

The machine's way out to the package index is passed in as on the host: its CA
bundle (mounted read-only) and ``PIP_CERT``, since the index may be reached through
a TLS proxy that only the host's bundle trusts.  That is the network, not a package.

The image is built from the registry-free base (``.ci/docker-setup.sh`` builds it)
and kept, like the base, under a tag naming its package list, so a second run
takes it from the cache.  Host networking, as for every container here; the chat
uses this test's own loopback address.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest
from docker_helpers import BUILD_TIMEOUT, REGISTRY_FREE_BASE, REPO_ROOT, docker
from harness import ChatProcess

pytestmark = pytest.mark.docker

# Debian's Python, Tk and venv (the README's quick start), and what the README's
# "Tests" section names for the GUI tests (an X server and tools to drive it) and
# the interop tests (nc, socat, openssl).  Nothing else: no pip, no pyenv.
PACKAGES = (
    "python3 python3-tk python3-venv"
    " xvfb xauth xdotool x11-utils imagemagick fonts-dejavu-core"
    " netcat-openbsd socat openssl ca-certificates"
)
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
USER = "newcomer"
CLONE = f"/home/{USER}/tcpchat"
TEST_COMMAND = "./scripts/test -e py311"  # the README's command, for bookworm's Python 3.11
TEST_TIMEOUT = 900.0
# What a clone does not have: build output, virtual environments, caches.
NOT_IN_A_CLONE = (
    ".git", ".tox", ".venv", "artifacts", "__pycache__", "*.egg-info",
    ".hypothesis", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist",
)  # fmt: skip


def _base() -> str:
    return os.environ.get("TCPCHAT_BASE_IMAGE") or REGISTRY_FREE_BASE


@pytest.fixture(scope="module")
def newcomer_image(docker_engine: None) -> str:
    """Debian bookworm + the packages above + an unprivileged user (cached by tag)."""
    base = _base()
    if docker("image", "inspect", base, check=False).returncode:
        pytest.skip(f"the registry-free base image {base} is missing: run .ci/docker-setup.sh")
    dockerfile = (
        f"FROM {base}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends "
        f"{PACKAGES} && rm -rf /var/lib/apt/lists/* && useradd --create-home {USER}\n"
    )
    tag = "tcpchat-first-run:" + hashlib.sha256(dockerfile.encode()).hexdigest()[:12]
    if docker("image", "inspect", tag, check=False).returncode:
        # The classic builder: the engine here has no buildx; the host network
        # because the engine has no bridge.
        subprocess.run(
            ["docker", "build", "--network", "host", "--force-rm", "--tag", tag, "-"],
            input=dockerfile, text=True, capture_output=True, check=True,
            timeout=BUILD_TIMEOUT, env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )  # fmt: skip
    return tag


@pytest.fixture
def newcomer(newcomer_image: str) -> Iterator[str]:
    """A running container with a copy of this clone in ~/tcpchat, owned by the newcomer."""
    name = f"tcpchat-first-run-{uuid.uuid4().hex[:8]}"
    excludes = " ".join(f"--exclude='{pattern}'" for pattern in NOT_IN_A_CLONE)
    network = []
    if Path(HOST_CA_BUNDLE).is_file():
        network = ["--volume", f"{HOST_CA_BUNDLE}:/etc/ssl/host-ca.crt:ro",
                   "--env", "PIP_CERT=/etc/ssl/host-ca.crt"]  # fmt: skip
    docker(
        "run", "--detach", "--name", name, "--network", "host", "--init", *network,
        "--volume", f"{REPO_ROOT}:/src:ro", newcomer_image, "sleep", "infinity",
    )  # fmt: skip
    try:
        docker(
            "exec", name, "sh", "-c",
            f"mkdir {CLONE} && tar -C /src {excludes} -c . | tar -C {CLONE} -x"
            f" && chown -R {USER}: {CLONE}",
        )  # fmt: skip
        yield name
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def in_container(name: str, command: str) -> list[str]:
    """``docker exec`` *command* as the newcomer, in the clone, with a login's environment."""
    return ["docker", "exec", "-i", "--user", USER, "--workdir", CLONE,
            "--env", f"HOME=/home/{USER}", name, "sh", "-c", command]  # fmt: skip


def test_debian_python_has_no_pip_and_refuses_a_system_wide_install(newcomer: str) -> None:
    """The premise: this is the set-up where `pip install` fails (PEP 668)."""
    done = docker("exec", newcomer, "sh", "-c", "python3 -m pip --version", check=False)
    assert done.returncode != 0, done.stdout
    assert "No module named pip" in done.stderr
    marker = docker("exec", newcomer, "sh", "-c", "ls /usr/lib/python3*/EXTERNALLY-MANAGED")
    assert "EXTERNALLY-MANAGED" in marker.stdout


def test_readme_run_command_chats_with_nothing_installed(
    newcomer: str, start_process: Callable[..., ChatProcess], address: tuple[str, int]
) -> None:
    """The headless pair from a clone: a line typed into the client reaches the server."""
    host, port = address
    where = f"--host {host} --port {port}"
    server = start_process(
        [], command=in_container(newcomer, f"exec python3 -m tcpchat server --headless {where}"),
        name="server in container",
    )  # fmt: skip
    server.wait_for_output(r"^listening on ")
    client = start_process(
        [], command=in_container(newcomer, f"exec python3 -m tcpchat client --headless {where}"),
        name="client in container",
    )  # fmt: skip
    client.wait_for_output(r"^\* welcome")
    client.send_line("Halo server!")
    server.wait_for_output(r"Client: Halo server!$")
    client.send_line("/quit")
    assert client.wait() == 0
    # The tcpchat imported is the clone's: nothing was installed.
    where_from = docker(
        "exec", "--user", USER, "--workdir", CLONE, newcomer,
        "python3", "-c", "import tcpchat; print(tcpchat.__file__)",
    ).stdout.strip()  # fmt: skip
    assert where_from == f"{CLONE}/tcpchat/__init__.py"


@pytest.mark.timeout(TEST_TIMEOUT + 60)  # the whole suite runs inside: not the usual 120 s
def test_readme_test_command_passes_and_reports_what_it_skips(
    newcomer: str, artifacts_dir: Path
) -> None:
    """./scripts/test -e py311: a venv with tox, then the py311 environment passes."""
    done = subprocess.run(
        in_container(newcomer, f"{TEST_COMMAND} 2>&1"),
        capture_output=True, text=True, timeout=TEST_TIMEOUT, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    (artifacts_dir / "test-command.log").write_text(output, encoding="utf-8")
    tail = "\n".join(output.splitlines()[-60:])
    assert done.returncode == 0, f"$ {TEST_COMMAND}\n(exit code {done.returncode})\n{tail}"
    assert re.search(r"^\s*py311: OK", output, re.MULTILINE), tail
    summary = re.findall(r"^=+ (.*(?:passed|failed).*) in [0-9.]+s", output, re.MULTILINE)
    assert summary, tail
    assert "failed" not in summary[-1], tail
    # Every skip comes with its reason (pytest -ra): list them for the report.
    skips = re.findall(r"^SKIPPED \[\d+\] (.+)$", output, re.MULTILINE)
    assert all(": " in skip for skip in skips), skips
    (artifacts_dir / "skipped.txt").write_text("\n".join(skips) + "\n", encoding="utf-8")
    # The system Python stayed clean: tox lives in the clone's .venv.
    assert docker("exec", newcomer, "python3", "-c", "import tox", check=False).returncode != 0
