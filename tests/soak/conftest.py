"""The soak runs only when asked for (``-m soak``), and never two at once.

Five Python environments under ``tox -p`` on two cores would otherwise each run
a soak of 300 connections at the same time, measuring the machine rather than
the server.  So the soak is deselected unless the marker expression names it
(CI runs it once, serially: ``pytest -m soak -p no:xdist tests/soak``), and a
file lock makes a second soak wait for the first.  The marker is registered in
pyproject.toml.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "soak" in (config.option.markexpr or ""):
        return
    soaks = [item for item in items if item.get_closest_marker("soak")]
    if soaks:
        config.hook.pytest_deselected(items=soaks)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
