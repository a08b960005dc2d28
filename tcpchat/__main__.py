"""``python -m tcpchat``."""

from tcpchat.cli import main

raise SystemExit(main())
