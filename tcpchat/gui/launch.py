"""Opening the windows from the command line (placeholder until the GUI lands)."""

from __future__ import annotations

import argparse
import sys


def run_window(args: argparse.Namespace) -> int:
    print(
        f"tcpchat: the {args.command} window is not available yet; use --headless",
        file=sys.stderr,
    )
    return 2
