"""The soak's marker: ``pytest -m "not soak"`` leaves it out of a quick run."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: a bounded soak of a real server (20-60 s)")
