"""``python -m tcpchat.client``: the command line's client entry point."""

from tcpchat.cli import main_client

raise SystemExit(main_client())
