"""A bad ``--cafile`` is a bad option, so it exits 2 as the README's table says.

It used to exit 1 (the code for "no server at the address"): the error was
raised while building the TLS context, inside the try that maps a client's
ChatError to exit 1.  The CLI now checks the file before it starts anything,
so a script can tell a typo from an outage.
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
