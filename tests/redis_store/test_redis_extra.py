"""`--store redis://` without redis-py installed: one line naming the extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCKED = """
import sys
sys.modules["redis"] = None  # what an install without the extra looks like
from tcpchat.errors import ChatError
from tcpchat.presence import Presence
from tcpchat.redislog import RedisLog
for attempt in (lambda: RedisLog.connect("redis://127.0.0.1:6379/0", "tcpchat"),
                lambda: Presence.connect("redis://127.0.0.1:6379/0", "tcpchat")):
    try:
        attempt()
    except ChatError as error:
        print(error)
"""


def test_a_missing_redis_extra_is_named_in_one_line() -> None:
    done = run_python(BLOCKED)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    message = "--store redis://... needs the redis extra: pip install 'tcpchat[redis]'"
    assert done.stdout.splitlines() == [message, message]


def test_tcpchat_itself_does_not_import_redis() -> None:
    """The stores are imported only when asked for: the package stays stdlib-only."""
    code = "import sys, tcpchat.redislog, tcpchat.presence; print('redis' in sys.modules)"
    done = run_python(code)
    assert done.stdout.strip() == "False", done.stderr


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", code]
    return subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=60)
