"""Fixtures wiring :mod:`harness` into pytest.

* ``address``: this test's own ``(127.x.y.z, 9000)``.
* ``start_process``: start real ``python -m tcpchat`` processes; they are
  stopped whatever happens, and a failing test's report gets their output
  (also saved under ``artifacts/<test>/``).
* ``server``: a headless server already listening on ``address``.
* ``raw_peer``: connect raw socket peers, closed at the end.
* ``artifacts_dir``: where a test saves screenshots and logs.

In CI (``CI=true``) a skipped GUI, Docker or Redis test is turned into a failure: a
reference whose windows or containers were never tested must not pass.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from harness import ARTIFACTS_ROOT, PORT, ChatProcess, RawPeer, loopback_address

MUST_RUN_IN_CI = ("gui", "docker", "redis")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    processes: list[ChatProcess] = getattr(item, "tcpchat_processes", [])
    if report.when == "call" and report.failed and processes:
        folder = _artifacts_path(item)
        folder.mkdir(parents=True, exist_ok=True)
        for number, process in enumerate(processes):
            text = process.report()
            (folder / f"{number}-{process.name}.log").write_text(text, encoding="utf-8")
            report.sections.append((f"process {process.name}", text))
    marked = [name for name in MUST_RUN_IN_CI if item.get_closest_marker(name)]
    if report.skipped and marked and _in_ci():
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"{marked[0]} test skipped in CI, which counts as a failure: {reason}"


def _artifacts_path(item: pytest.Item) -> Path:
    return ARTIFACTS_ROOT / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid).strip("_")


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """``artifacts/<test name>/``, created on first use."""
    path = _artifacts_path(request.node)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def address() -> tuple[str, int]:
    return (loopback_address(), PORT)


@pytest.fixture
def start_process(request: pytest.FixtureRequest) -> Iterator[Callable[..., ChatProcess]]:
    started: list[ChatProcess] = []
    request.node.tcpchat_processes = started  # read by pytest_runtest_makereport

    def start(args: list[str], **kwargs: Any) -> ChatProcess:
        process = ChatProcess(args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def server(address: tuple[str, int], start_process: Callable[..., ChatProcess]) -> ChatProcess:
    """A headless ``tcpchat server`` listening on this test's address."""
    host, port = address
    process = start_process(
        ["server", "--headless", "--host", host, "--port", str(port)], name="server"
    )
    process.wait_for_output(r"^listening on ")
    return process


@pytest.fixture
def raw_peer(address: tuple[str, int]) -> Iterator[Callable[..., RawPeer]]:
    peers: list[RawPeer] = []

    def connect(host: str | None = None, port: int | None = None) -> RawPeer:
        peer = RawPeer(host or address[0], port or address[1])
        peers.append(peer)
        return peer

    yield connect
    for peer in peers:
        peer.close()
