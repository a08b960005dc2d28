"""A private Xvfb for the screenshots and the GUI benchmarks (`python -m benchmarks.gui_*`)."""

from __future__ import annotations

import os
import subprocess


def start_xvfb(size: str = "1600x900x24") -> tuple[subprocess.Popen[bytes], str]:
    """A private Xvfb; it reports the display number it chose on a pipe."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    if not number:
        raise SystemExit("Xvfb did not start")
    return xvfb, f":{number}"
