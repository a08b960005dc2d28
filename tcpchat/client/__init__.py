"""The chat client core: one connection, two threads, no user interface (see :mod:`.core`)."""

from tcpchat.client.core import ChatClient

__all__ = ["ChatClient"]
