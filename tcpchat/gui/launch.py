"""Opening the windows from the command line: ``tcpchat server|client|demo``.

Without a display there is nothing to open, so :func:`run_window` says so in
one line (naming ``DISPLAY`` and ``--headless``) and returns 2, whether the
display is missing or Tk cannot open it.  Failures of the chat itself follow
the command line's conventions: a server that cannot listen raises
:class:`~tcpchat.errors.ChatError` (one line, exit 2) before its window shows;
a client that cannot reach its server says so in its window, with Reconnect.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING

from tcpchat.client import ChatClient
from tcpchat.console import TranscriptFile
from tcpchat.gui import i18n
from tcpchat.gui.placement import place

if TYPE_CHECKING:
    import tkinter as tk

    from tcpchat.gui.base import ChatWindow

EXIT_NO_DISPLAY = 2
"""The command line's exit code for a usage problem."""


class NoDisplay(Exception):
    """No window can be opened; the message says why and what to do."""


def run_window(args: argparse.Namespace) -> int:
    """Run the window *args* ask for until it is closed; the exit code."""
    if args.command == "demo":
        from tcpchat.gui.demo import run_demo

        return run_demo(args)
    i18n.set_language(args.lang)
    try:
        root = open_root()
    except NoDisplay as exc:
        print(f"tcpchat: {exc}", file=sys.stderr, flush=True)
        return EXIT_NO_DISPLAY
    window: ChatWindow | None = None
    transcript: TranscriptFile | None = None
    try:
        transcript = _transcript_file(args)
        window = _make_window(root, args, transcript)
        place(root, args.command, getattr(args, "geometry", None))  # placement.py: why
        window.start()  # a server that cannot listen raises ChatError here
    except BaseException:
        if window is not None:
            window.close()
        else:
            root.destroy()
        raise
    _close_on_signals(window)
    try:
        root.mainloop()
    finally:
        window.close()  # if mainloop ended any other way than by closing
        if transcript:
            transcript.close()
    return 0


def display_problem() -> str | None:
    """Why no window can be opened here, if that is plain without trying."""
    if sys.platform not in ("win32", "darwin") and not os.environ.get("DISPLAY"):
        return (
            "cannot open a window: DISPLAY is not set (no X display); "
            "use --headless to chat in the terminal"
        )
    return None


def open_root() -> tk.Tk:
    """The Tk root window, or :class:`NoDisplay` explaining why there is none."""
    problem = display_problem()
    if problem:
        raise NoDisplay(problem)
    try:
        import tkinter as tk
    except ImportError as exc:
        raise NoDisplay(
            f"cannot open a window: tkinter is missing ({exc}); use --headless"
        ) from None
    try:
        return tk.Tk(className="tcpchat")
    except tk.TclError as exc:
        where = os.environ.get("DISPLAY", "")
        raise NoDisplay(
            f"cannot open a window on DISPLAY={where!r}: {exc}; check DISPLAY or use --headless"
        ) from None


def _make_window(
    root: tk.Tk, args: argparse.Namespace, transcript: TranscriptFile | None
) -> ChatWindow:
    """The window for *args*, its core built by the command line's own helpers."""
    from tcpchat import cli

    if args.command == "server":
        from tcpchat.gui.server_window import ServerWindow

        server = cli.make_server(args)  # TLS, password and limits included
        if transcript:
            server.add_observer(transcript)
        return ServerWindow(root, server)
    from tcpchat.gui.client_window import ClientWindow

    security = cli.client_security(args)  # --tls, --cafile, --password

    def new_client(nick: str | None) -> ChatClient:
        client = ChatClient(args.host, args.port, nick=nick, **security)
        if transcript:
            client.add_observer(transcript)
        return client

    return ClientWindow(
        root, args.host, args.port, nick=args.nick, reconnect=args.reconnect, new_client=new_client
    )


def _transcript_file(args: argparse.Namespace) -> TranscriptFile | None:
    """``--log-file``: the same transcript file the headless mode writes."""
    return TranscriptFile(args.log_file, errors=sys.stderr) if args.log_file else None


def _close_on_signals(window: ChatWindow) -> None:
    """Ctrl-C and SIGTERM close the window cleanly (the demo relies on SIGTERM)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda _signum, _frame: window.request_close())
