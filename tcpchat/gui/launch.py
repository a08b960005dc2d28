"""Running a window for the command line: ``tcpchat server|client`` without ``--headless``.

The command line (:mod:`tcpchat.cli`) resolves the options and knows how to
build the core; this module opens the display first and only then asks for the
core, so the problems are reported in the same order whatever the front end:

* without a display there is nothing to open: :func:`run_server_window` and
  :func:`run_client_window` say so in one line (naming ``DISPLAY`` and
  ``--headless``) and return 2, whether the display is missing or Tk cannot
  open it;
* failures of the chat follow the command line's conventions: a core that
  cannot be built, or a server that cannot listen, raises
  :class:`~tcpchat.errors.ChatError` (one line) before its window shows; a
  client that cannot reach its server says so in its window, with Reconnect.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from tcpchat.gui import i18n
from tcpchat.gui.placement import place
from tcpchat.runtime import on_stop_signals

if TYPE_CHECKING:
    import tkinter as tk

    from tcpchat.gui.base import ChatWindow
    from tcpchat.gui.client_window import ClientFactory
    from tcpchat.server import ChatServer

EXIT_NO_DISPLAY = 2
"""The command line's exit code for a usage problem."""


@dataclass(frozen=True)
class WindowSettings:
    """What the windows take from the command line, resolved (flags, ``TCPCHAT_*``, defaults)."""

    host: str
    port: int
    display: str | None = None
    """The X display (``$DISPLAY``; the command line reads the environment, not the windows)."""
    lang: str | None = None
    """The windows' language (``en``, ``id``); ``None`` follows the locale."""
    geometry: str | None = None
    """Where the window goes (Tk's ``WxH+X+Y``); ``None``: side by side on a bare X server."""
    nick: str | None = None
    """Client: the nickname to ask for."""
    reconnect: bool = False
    """Client: retry with back-off when the server is lost."""
    log_file: str | None = None
    """Demo: handed to the server window's process (a window's own file is the core's observer)."""


class NoDisplay(Exception):
    """No window can be opened; the message says why and what to do."""


def run_server_window(settings: WindowSettings, make_server: Callable[[], ChatServer]) -> int:
    """Open the display, then run a server window on ``make_server()`` until it is closed."""

    def window(root: tk.Tk) -> ChatWindow:
        from tcpchat.gui.server_window import ServerWindow

        return ServerWindow(root, make_server())

    return _run(settings, "server", window)


def run_client_window(settings: WindowSettings, make_factory: Callable[[], ClientFactory]) -> int:
    """Open the display, then run a client window whose clients ``make_factory()`` makes."""

    def window(root: tk.Tk) -> ChatWindow:
        from tcpchat.gui.client_window import ClientWindow

        return ClientWindow(
            root,
            settings.host,
            settings.port,
            nick=settings.nick,
            reconnect=settings.reconnect,
            new_client=make_factory(),
        )

    return _run(settings, "client", window)


def _run(settings: WindowSettings, role: str, make_window: Callable[[tk.Tk], ChatWindow]) -> int:
    """Run the window *make_window* builds on a new root until it is closed; the exit code."""
    i18n.set_language(settings.lang)
    try:
        root = open_root(settings.display)
    except NoDisplay as exc:
        print(f"tcpchat: {exc}", file=sys.stderr, flush=True)
        return EXIT_NO_DISPLAY
    window: ChatWindow | None = None
    try:
        window = make_window(root)
        place(root, role, settings.geometry)  # placement.py: why
        window.start()  # a server that cannot listen raises ChatError here
    except BaseException:
        if window is not None:
            window.close()
        else:
            root.destroy()
        raise
    # Ctrl-C and SIGTERM close the window cleanly (the demo relies on SIGTERM);
    # request_close() only sets a flag, which is safe in a signal handler.
    on_stop_signals(window.request_close)
    try:
        root.mainloop()
    finally:
        window.close()  # if mainloop ended any other way than by closing
    return 0


def display_problem(display: str | None) -> str | None:
    """Why no window can be opened on *display* (``$DISPLAY``), if that is plain without trying."""
    if sys.platform not in ("win32", "darwin") and not display:
        return (
            "cannot open a window: DISPLAY is not set (no X display); "
            "use --headless to chat in the terminal"
        )
    return None


def open_root(display: str | None) -> tk.Tk:
    """The Tk root window, or :class:`NoDisplay` explaining why there is none.

    Tk itself opens ``$DISPLAY``; *display* is its value, for the diagnosis.
    """
    problem = display_problem(display)
    if problem:
        raise NoDisplay(problem)
    try:
        import tkinter as tk
    except ImportError as exc:
        raise NoDisplay(
            f"cannot open a window: tkinter is missing ({exc}); install it (Debian/Ubuntu: "
            "apt install python3-tk) or use --headless"
        ) from None
    try:
        return tk.Tk(className="tcpchat")
    except tk.TclError as exc:
        where = display or ""
        raise NoDisplay(
            f"cannot open a window on DISPLAY={where!r}: {exc}; check DISPLAY or use --headless"
        ) from None
