"""``python -m tcpchat.server``: the command line's server entry point."""

from tcpchat.cli import main_server

raise SystemExit(main_server())
