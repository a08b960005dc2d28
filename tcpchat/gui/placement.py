"""Where a window opens: side by side on a bare X server, or where ``--geometry`` says.

A window manager places new windows so that they do not cover each other, and
gives the keyboard to the one clicked.  A bare X server has no window manager
(Xvfb, ``xvfb-run tcpchat demo``, the browser view of
``docker/compose.web.yaml``): every window would open at the top-left corner,
the client's on top of the server's, and no click would ever move the keyboard.
So, once a window is shown and no window manager took it:

* the server takes the left half of the screen and a client the right half
  (never narrower than the window's minimum size);
* a click into a window gives it the keyboard, and a client window takes the
  keyboard when it opens, so typing goes to its entry at once.

``--geometry`` takes Tk's syntax, ``WIDTHxHEIGHT+X+Y``, either part optional
(``640x480``, ``+0+0``, ``-0+0`` for the right edge).  It is applied before the
window shows, so a window manager honours it too; on a bare X server a part
left out is filled in as above.

:func:`geometry_for` is pure (no Tk), so it is tested without a display;
:func:`place` applies it to a Tk root.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Tuple

if TYPE_CHECKING:
    import tkinter as tk

_GEOMETRY = re.compile(r"=?(?:(?P<size>\d+x\d+))?(?P<offset>[+-]-?\d+[+-]-?\d+)?")

Size = Tuple[int, int]


def geometry(text: str) -> str:
    """*text* if it is a Tk geometry, else ValueError (an ``argparse`` type)."""
    match = _GEOMETRY.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a geometry like 640x480+0+0")
    return text.strip().lstrip("=")


def geometry_for(
    role: str, screen: Size, requested: str | None = None, minimum: Size = (1, 1)
) -> str:
    """The geometry of a *role* window (``server`` or ``client``) on a bare *screen*.

    Half the screen's width and all its height, at the left edge for the
    server and the right edge for anything else; *requested* (Tk's syntax)
    replaces the size, the position or both; *minimum* is the smallest size
    the window accepts, which wins over half a small screen.
    """
    match = _GEOMETRY.fullmatch(geometry(requested)) if requested else None
    size = match and match.group("size")
    if size:
        width, height = (int(part) for part in size.split("x"))
    else:
        width, height = max(screen[0] // 2, minimum[0]), max(screen[1], minimum[1])
    offset = match and match.group("offset")
    if not offset:
        x = 0 if role == "server" else max(0, screen[0] - width)
        offset = f"+{x}+0"
    return f"{width}x{height}{offset}"


def place(root: tk.Tk, role: str, requested: str | None = None) -> None:
    """Apply *requested* now, and on a bare X server :func:`geometry_for` once shown."""
    if requested:
        root.geometry(geometry(requested))
    placed: list[bool] = []

    def on_map(event: tk.Event[tk.Misc]) -> None:
        # <Map> bound on the root also fires for its widgets: only the root's counts.
        if event.widget is not root or placed:
            return
        placed.append(True)
        if _managed(root):
            return  # a window manager placed it and will give it the keyboard
        root.after_idle(_place_now, root, role, requested)

    root.bind("<Map>", on_map, add="+")


def _place_now(root: tk.Tk, role: str, requested: str | None) -> None:
    # From an idle job, not the <Map> handler: a move asked for inside it is lost
    # (the size changes, the window stays at 0,0).
    screen = (root.winfo_screenwidth(), root.winfo_screenheight())
    minimum = root.minsize()
    root.geometry(geometry_for(role, screen, requested, (minimum[0], minimum[1])))
    root.bind("<ButtonPress>", lambda _event: _take_keyboard(root), add="+")
    if role != "server":
        _take_keyboard(root)


def _managed(root: tk.Tk) -> bool:
    """Whether a window manager took *root* into a frame of its own (reparented it)."""
    return int(root.wm_frame(), 16) != root.winfo_id()


def _take_keyboard(root: tk.Tk) -> None:
    """Give the keyboard to the widget that last had the focus in *root*, else its entry.

    A ``focus_set()`` made before the window was shown is not remembered as
    the last focus, so at start the chat's entry is looked up instead.
    """
    widget = root.focus_lastfor()
    if widget is None or widget is root:
        widget = _first_entry(root) or root
    widget.focus_force()


def _first_entry(parent: tk.Misc) -> tk.Misc | None:
    for child in parent.winfo_children():
        if child.winfo_class() in ("TEntry", "Entry"):
            return child
        found = _first_entry(child)
        if found is not None:
            return found
    return None
