"""The transcript pane: a read-only, scrolled, bounded list of timestamped lines."""

from __future__ import annotations

import enum
import tkinter as tk
from dataclasses import dataclass
from tkinter import font as tkfont
from tkinter import ttk
from typing import Iterable

from tcpchat.sinks import clock


class Style(enum.Enum):
    """How a line looks; each is a Text tag configured in :class:`Transcript`."""

    OWN = "own"
    OTHERS = "others"
    NOTICE = "notice"
    ERROR = "error"
    HISTORY = "history"
    """A line of the history shown on joining: said before we came, so dimmed."""
    PENDING = "pending"
    """A line typed while disconnected, waiting to be sent: greyed."""


@dataclass(frozen=True)
class Line:
    """One transcript line: *text* is ``events.transcript_line`` in the window's language."""

    at: float
    text: str
    style: Style
    speaker: str = ""
    """For chat lines, the nickname *text* starts with (drawn bold)."""
    original: str = ""
    """When *text* is a translation: the English line, for the console (empty: *text*)."""


# Colours chosen to stay readable on white and to differ for colour-blind readers
# by more than hue: own and others' nicks are bold, notices italic, errors red.
_TAGS: dict[str, dict[str, str]] = {
    "time": {"foreground": "#8a8a8a"},
    "speaker": {"font": "TranscriptBold"},
    Style.OWN.value: {"foreground": "#1c5fb0"},
    Style.OTHERS.value: {"foreground": "#1d1d1d"},
    Style.NOTICE.value: {"foreground": "#5e5c64", "font": "TranscriptItalic"},
    Style.ERROR.value: {"foreground": "#c01c28"},
    Style.HISTORY.value: {"foreground": "#9a9996"},
    Style.PENDING.value: {"foreground": "#9a9996", "font": "TranscriptItalic"},
}
_OTHERS_SPEAKER = {"foreground": "#26734d"}


class Transcript(ttk.Frame):
    """The conversation so far, newest at the bottom, at most *max_lines* long.

    Lines are added in batches with a single Tk call each, and the oldest are
    dropped beyond *max_lines*, so a flood costs the window a bounded amount of
    work and memory.  The view follows new lines only while the reader is at
    the bottom, so scrolling back to read is not undone by the next message.
    """

    def __init__(self, master: tk.Misc, *, max_lines: int) -> None:
        super().__init__(master)
        self.max_lines = max_lines
        self.text = tk.Text(
            self,
            wrap="word",
            font="TranscriptFont",
            width=60,
            height=16,
            padx=8,
            pady=6,
            spacing1=1,
            spacing3=1,
            borderwidth=0,
            highlightthickness=0,
            background="#ffffff",
            state="disabled",
            takefocus=False,  # the entry keeps the keyboard
            undo=False,
        )
        scrollbar = ttk.Scrollbar(self, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=scrollbar.set)
        self.text.grid(row=0, column=0, sticky="nsew")
        scrollbar.grid(row=0, column=1, sticky="ns")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        for tag, options in _TAGS.items():
            self.text.tag_configure(tag, **options)
        self.text.tag_configure("others-speaker", **_OTHERS_SPEAKER)
        self.text.tag_raise("speaker")
        # Wrapped lines continue under the text, not under the timestamp.
        indent = tkfont.Font(root=self, name="TranscriptFont", exists=True).measure(_stamp(0))
        for style in Style:
            self.text.tag_configure(style.value, lmargin2=indent)

    def add(self, lines: Iterable[Line]) -> None:
        """Append *lines*, drop the oldest beyond the limit, follow the end."""
        chunks: list[str | tuple[str, ...]] = []
        for line in lines:
            chunks += [_stamp(line.at), ("time",)]
            rest = line.text
            if line.speaker and rest.startswith(line.speaker):
                tags = ["speaker", line.style.value]
                if line.style is Style.OTHERS:
                    tags.append("others-speaker")
                chunks += [line.speaker, tuple(tags)]
                rest = rest[len(line.speaker) :]
            chunks += [rest + "\n", (line.style.value,)]
        if not chunks:
            return
        following = self.text.yview()[1] >= 1.0
        self.text.configure(state="normal")
        # One call for the whole batch: insert(index, chars, tags, chars, tags, …).
        self.text.insert("end", "", (), *chunks)
        excess = self.line_count() - self.max_lines
        if excess > 0:
            self.text.delete("1.0", f"{excess + 1}.0")
        self.text.configure(state="disabled")
        if following:
            self.text.see("end")

    def line_count(self) -> int:
        # Text always ends in a newline of its own, after the last line's.
        return int(self.text.index("end-1c").split(".")[0]) - 1

    def lines(self) -> list[str]:
        """The lines shown, timestamps included (for tests and screen readers)."""
        return self.text.get("1.0", "end-1c").splitlines()


def _stamp(at: float) -> str:
    return f"{clock(at)}  "
