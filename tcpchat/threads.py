"""Starting the many small threads of a threaded server, with small stacks.

tcpchat gives each connection a reader thread (and, once it falls behind, a
writer thread), so a busy server runs thousands of threads.  Their stacks are
mostly untouched address space, but each still costs a mapping and counts
against limits such as ``ulimit -v``; a quarter of a megabyte is ample for
this code.  Net layer: no tcpchat imports.
"""

from __future__ import annotations

import threading
from typing import Callable

THREAD_STACK_BYTES = 256 * 1024
"""Stack for each connection thread: enough for this code, small for thousands."""


def start_thread(target: Callable[..., None], name: str, *args: object) -> threading.Thread:
    """Start a thread with a small stack (see :data:`THREAD_STACK_BYTES`)."""
    previous = threading.stack_size(THREAD_STACK_BYTES)
    try:
        thread = threading.Thread(target=target, name=name, args=args)
        thread.start()
    finally:
        threading.stack_size(previous)
    return thread
