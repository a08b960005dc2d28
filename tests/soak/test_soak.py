"""The soak as a test: 60 s in CI, 20 s otherwise, ``TCPCHAT_SOAK_SECONDS`` on demand.

What it does is in ``soak.py``; the report (figures and one sample a second)
is saved as ``artifacts/soak/report.json``, for ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os

import pytest
from harness import ARTIFACTS_ROOT
from soak import run

pytestmark = pytest.mark.soak

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SECONDS = float(os.environ.get("TCPCHAT_SOAK_SECONDS", "60" if IN_CI else "20"))
RSS_GROWTH_BOUND_MIB = 64


def test_a_soak_loses_no_chat_and_does_not_grow() -> None:
    report = run(SECONDS)
    summary = report.summary()
    folder = ARTIFACTS_ROOT / "soak"
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**summary, "samples": report.samples}, indent=1)
    (folder / "report.json").write_text(text, encoding="utf-8")
    assert report.problems == []
    assert report.chat_sent > 0
    assert report.lost == 0
    assert report.out_of_order == 0
    assert summary["RSS growth after warm-up MiB"] < RSS_GROWTH_BOUND_MIB, summary
    assert report.end_threads <= report.start_threads
    assert sum(report.misdeeds.values()) > 0
