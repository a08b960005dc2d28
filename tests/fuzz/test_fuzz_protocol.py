"""The fuzz target, briefly: under hypothesis always, under atheris when it is installed.

Longer runs are on demand: ``TCPCHAT_FUZZ_RUNS=1000000 pytest tests/fuzz`` (atheris) or
``python tests/fuzz/fuzz_protocol.py -max_total_time=600``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_protocol import check
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

TARGET = Path(__file__).with_name("fuzz_protocol.py")
RUNS = int(os.environ.get("TCPCHAT_FUZZ_RUNS", "20000"))


@settings(max_examples=int(os.environ.get("TCPCHAT_FUZZ_EXAMPLES", "1500")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(st.binary(max_size=512))
@example(b"\x05\x01\x02hello\nworld\r\n/nick \xff\xfe\n" + b"x" * 100)
@example(b"\x00\x00\x00\n\n\r\n")
def test_the_fuzz_target_holds_for_generated_input(data: bytes) -> None:
    check(data)


@given(st.lists(st.sampled_from([b"\n", b"\r", b"/", b"nick ", b"a", b"\xc3", b"\xa9", b"\x1b"]),
                max_size=200).map(b"".join), st.binary(min_size=3, max_size=3))  # fmt: skip
def test_the_fuzz_target_holds_for_protocol_shaped_input(stream: bytes, head: bytes) -> None:
    check(head + stream)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris_finds_nothing_in_a_bounded_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(TARGET), f"-runs={RUNS}", "-seed=1", "-max_len=512"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    tail = "\n".join(result.stderr.splitlines()[-30:])
    assert result.returncode == 0, tail
    assert f"Done {RUNS} runs" in result.stderr, tail
