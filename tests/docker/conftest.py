"""Fixtures for the container tests: the engine, the image, one compose stack per test.

* ``tcpchat_image``: the image, built once per session (classic builder, on
  the registry-free base where it exists) plus a test-only xdotool layer;
  both removed at the end of the session, whatever happened.
* ``headless_stack`` / ``desktop_stack``: a compose project of this test's own,
  on its loopback address; ``docker compose down`` at the end, whatever happened.

Without an engine the tests skip, except in CI (``CI=true``), where they fail:
a reference whose containers were never tested must not pass.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from docker_helpers import (
    BUILD_TIMEOUT,
    DESKTOP_FILES,
    HEADLESS_FILES,
    BuiltImage,
    ComposeProject,
    base_image,
    docker,
    engine_problem,
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """An engine and compose v2 answer; otherwise skip (fail in CI)."""
    problem = engine_problem()
    if problem:
        if _in_ci():
            pytest.fail(f"container tests cannot run in CI: {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="session")
def tcpchat_image(docker_engine: None) -> Iterator[BuiltImage]:
    token = uuid.uuid4().hex[:8]
    runtime, testing = f"tcpchat-test:{token}", f"tcpchat-test:{token}-xdotool"
    base = base_image()
    started = time.monotonic()
    try:
        # The classic builder (DOCKER_BUILDKIT=0): the engine here has no buildx,
        # and its layer cache makes a rebuild after a code change take seconds.
        # --force-rm: a failed step leaves no container behind.
        docker(
            "build", "--force-rm", "--network", "host", "--target", "runtime",
            "--build-arg", f"PYTHON_IMAGE={base}", "--tag", runtime, ".",
            timeout=BUILD_TIMEOUT, env={"DOCKER_BUILDKIT": "0"},
        )  # fmt: skip
        seconds = time.monotonic() - started
        docker(
            "build", "--force-rm", "--network", "host", "--build-arg", f"IMAGE={runtime}",
            "--tag", testing, "--file", "tests/docker/xdotool.Dockerfile", "tests/docker",
            timeout=BUILD_TIMEOUT, env={"DOCKER_BUILDKIT": "0"},
        )  # fmt: skip
        yield BuiltImage(runtime, testing, base, seconds)
    finally:
        # Removing the tags also removes their untagged layers; the base stays.
        docker("image", "rm", "--force", testing, runtime, check=False)


def _project_name(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"tcpchat-{name[:40]}-{uuid.uuid4().hex[:6]}"


def _stack(
    request: pytest.FixtureRequest,
    files: tuple[str, ...],
    image: BuiltImage,
    address: tuple[str, int],
    tmp_path: Path,
) -> Iterator[ComposeProject]:
    project = ComposeProject(
        _project_name(request), files, image.testing, address[0], tmp_path / "screens"
    )
    try:
        yield project
    finally:
        project.down()
        left = docker(
            "ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={project.name}"
        ).stdout.split()
        assert not left, f"containers left after `docker compose down`: {left}"


@pytest.fixture
def headless_stack(
    request: pytest.FixtureRequest,
    tcpchat_image: BuiltImage,
    address: tuple[str, int],
    tmp_path: Path,
) -> Iterator[ComposeProject]:
    """compose.yaml, the headless variant and the test override: one Xvfb per container."""
    yield from _stack(request, HEADLESS_FILES, tcpchat_image, address, tmp_path)


@pytest.fixture
def desktop_stack(
    request: pytest.FixtureRequest,
    tcpchat_image: BuiltImage,
    address: tuple[str, int],
    tmp_path: Path,
) -> Iterator[ComposeProject]:
    """compose.yaml + the test override: windows on a forwarded display."""
    yield from _stack(request, DESKTOP_FILES, tcpchat_image, address, tmp_path)
