"""RED until fixed: a bad ``--cafile`` is a bad option, so it exits 2 as the README's table says.

Today the client exits 1 (the code for "no server at the address"): the error
is raised while building the TLS context, inside the try that maps every
client ChatError to exit 1 (tcpchat/cli.py, main()).  Fix: check --cafile
while the options are read (client_security() called before the try, or its
ChatError mapped to EXIT_USAGE), so a script can tell a typo from an outage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from harness import ChatProcess, no_traceback

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("problem", ["missing", "not a certificate"])
def test_a_bad_cafile_is_a_usage_error_exit_2(
    problem: str,
    tmp_path: Path,
    address: tuple[str, int],
    start_process: Callable[..., ChatProcess],
) -> None:
    cafile = tmp_path / "ca.pem"
    if problem == "not a certificate":
        cafile.write_text("this is not PEM\n")
    args = ["client", "--headless", "--host", address[0], "--port", str(address[1])]
    client = start_process([*args, "--cafile", str(cafile)], name="client")
    assert client.wait() == 2  # a bad option, not an unreachable server (1)
    assert "--cafile" in client.stderr
    assert client.stderr.count("\n") == 0
    assert no_traceback(client.stderr)
