"""What the server and client windows share: layout, the event inbox, closing.

The thread rule
---------------
Tk is not thread-safe: only the thread that created the window may touch a
widget or call Tk at all, ``after()`` included.  The chat cores, though, report
events on their own threads.  So the two meet at a queue, the way IDLE's shell
meets its subprocess::

    core threads                         Tk main thread
    ------------                         --------------
    observer(event)                      every poll_ms: _poll()
      └─ window.post(event) ──► inbox ──►   take at most batch_limit events
         (queue.put, nothing else)           ├─ on_event(): status, nick list
                                             ├─ transcript.add(): one Tk call
                                             └─ console: one write

A core's observer does one thing, ``post()``, which only puts the event on a
:class:`queue.SimpleQueue`.  The Tk thread drains it from an ``after()`` timer,
taking a bounded batch per tick, so a flood of messages costs each tick a
bounded amount of work and the window keeps answering the mouse and keyboard;
the transcript keeps a bounded number of lines, so it costs bounded memory.
"""

from __future__ import annotations

import enum
import queue
import sys
import tkinter as tk
from tkinter import font as tkfont
from tkinter import ttk
from typing import IO, Sequence

from tcpchat import events
from tcpchat.gui.i18n import _, event_line
from tcpchat.gui.transcript import Line, Style, Transcript
from tcpchat.sinks import ConsolePrinter, console_line


class Status(enum.Enum):
    """What the status line says; the value is the colour of its dot."""

    STARTING = "#c28a00"  # amber: on the way
    LISTENING = "#2e9d44"  # green: serving
    CONNECTED = "#2e9d45"  # green too (a distinct value, or Enum would make it an alias)
    DISCONNECTED = "#8a8a8a"  # grey: idle
    ERROR = "#c01c28"  # red: needs the user


class ChatWindow:
    """A chat window on *root*; subclasses connect it to a server or client core.

    Subclasses provide :meth:`submit` (send what was typed), :meth:`on_event`
    (react to a core event on the Tk thread) and :meth:`shutdown` (stop the
    core), and may override :meth:`on_start` and :meth:`line_for`.
    """

    poll_ms = 40
    """How often the Tk thread looks at the inbox when it was empty."""
    busy_poll_ms = 5
    """How soon it looks again after a full batch (more is waiting)."""
    batch_limit = 1000
    """Most events rendered per tick: bounds the time a tick can take (see docs/gui.md)."""
    max_waiting = 20_000
    """Most chat messages waiting in the inbox; beyond it they are counted, not kept.

    A peer can send faster than any window draws.  Past this many waiting
    messages (ten times what the transcript shows) new chat is skipped and the
    window says how much, so a flood costs bounded memory; notices and status
    changes are always kept.
    """

    def __init__(
        self,
        root: tk.Tk,
        *,
        max_lines: int = 2000,
        console: IO[str] | None = None,
    ) -> None:
        self.root = root
        self.closed = False
        self._inbox: queue.SimpleQueue[events.Event] = queue.SimpleQueue()
        # Chat not queued because the inbox was full (see max_waiting): the core's
        # thread only counts up, the Tk thread only remembers what it reported, so
        # neither overwrites the other's number.
        self._skipped = 0
        self._skipped_reported = 0
        self._close_requested = False
        self._poll_job: str | None = None
        self._console = ConsolePrinter(console or sys.stdout)  # default: stdout at the time
        self._fonts = _configure_root(root)

        frame = ttk.Frame(root, padding=(10, 10, 10, 6))
        frame.grid(row=0, column=0, sticky="nsew")
        frame.rowconfigure(0, weight=1)
        frame.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)  # the transcript takes whatever room there is
        root.columnconfigure(0, weight=1)
        self.body = self._build_body(frame, max_lines)
        """The transcript in column 0; subclasses may add panes in column 1."""
        self.entry, self.send_button = self._build_compose_row(frame)
        ttk.Separator(root).grid(row=1, column=0, sticky="ew")
        self.status_bar = self._build_status_bar(root)
        """Status dot and text on the left; subclasses may add buttons in column 2."""
        self.status = Status.STARTING

        root.minsize(460, 300)
        root.protocol("WM_DELETE_WINDOW", self.close)
        self.entry.focus_set()

    def _build_body(self, parent: ttk.Frame, max_lines: int) -> ttk.Frame:
        body = ttk.Frame(parent)
        body.grid(row=0, column=0, sticky="nsew")
        body.rowconfigure(0, weight=1)
        body.columnconfigure(0, weight=1)
        border = ttk.Frame(body, style="Pane.TFrame", padding=1)
        border.grid(row=0, column=0, sticky="nsew")
        border.rowconfigure(0, weight=1)
        border.columnconfigure(0, weight=1)
        self.transcript = Transcript(border, max_lines=max_lines)
        self.transcript.grid(row=0, column=0, sticky="nsew")
        return body

    def _build_compose_row(self, parent: ttk.Frame) -> tuple[ttk.Entry, ttk.Button]:
        compose = ttk.Frame(parent, padding=(0, 8, 0, 0))
        compose.grid(row=1, column=0, sticky="ew")
        compose.columnconfigure(0, weight=1)
        entry = ttk.Entry(compose, font="TkTextFont")
        entry.grid(row=0, column=0, sticky="ew", ipady=3)
        button = ttk.Button(compose, text=_("Send"), command=self._send_typed)
        button.grid(row=0, column=1, padx=(8, 0))
        entry.bind("<Return>", self._send_typed)
        entry.bind("<KP_Enter>", self._send_typed)
        return entry, button

    def _build_status_bar(self, root: tk.Tk) -> ttk.Frame:
        bar = ttk.Frame(root, style="Status.TFrame", padding=(10, 3))
        bar.grid(row=2, column=0, sticky="ew")
        bar.columnconfigure(1, weight=1)
        self._status_dot = ttk.Label(bar, text="●", style="Status.TLabel")
        self._status_dot.grid(row=0, column=0, padx=(0, 6))
        # width=1: a long reason must not widen the window (the transcript has it in full)
        self._status_text = ttk.Label(bar, style="Status.TLabel", width=1)
        self._status_text.grid(row=0, column=1, sticky="ew")
        return bar

    # -- any thread ------------------------------------------------------------

    def post(self, event: events.Event) -> None:
        """Hand *event* to the window; the one thing a core thread may do with it."""
        if isinstance(event, events.Message) and self._inbox.qsize() >= self.max_waiting:
            self._skipped += 1
            return
        self._inbox.put(event)

    def request_close(self) -> None:
        """Ask the window to close at its next tick; safe from a signal handler."""
        self._close_requested = True  # a plain flag: no lock a handler could deadlock on

    # -- Tk thread ---------------------------------------------------------------

    def start(self) -> None:
        """Start the core (see :meth:`on_start`) and the inbox poll loop."""
        self.on_start()
        self._poll()

    def close(self) -> None:
        """Stop the core, then the window; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        if self._poll_job is not None:
            self.root.after_cancel(self._poll_job)
        self.root.withdraw()  # gone at once, even if the core takes a moment to stop
        self.shutdown()
        leftovers = self._take(sys.maxsize)  # the core's last words: log them
        self._log([self.line_for(event) for event in leftovers])
        self.root.update_idletasks()  # let Tk finish work it queued (ttk's theme setup)
        self.root.destroy()

    def set_title(self, title: str) -> None:
        self.root.title(title)

    def set_status(self, status: Status, text: str) -> None:
        self.status = status
        self._status_dot.configure(foreground=status.value)
        self._status_text.configure(text=text)

    @property
    def status_text(self) -> str:
        return str(self._status_text.cget("text"))

    def set_sending(self, enabled: bool) -> None:
        """Enable or disable Send (and Return); the entry stays editable."""
        self.send_button.state(["!disabled"] if enabled else ["disabled"])

    @property
    def can_send(self) -> bool:
        return self.send_button.instate(["!disabled"])

    def show_lines(self, lines: Sequence[Line]) -> None:
        """Show *lines* that are no core's event (replies to this window), and log them."""
        self.transcript.add(lines)
        self._log(lines)

    # -- for subclasses ------------------------------------------------------------

    def on_start(self) -> None:
        """Start the core; called once by :meth:`start`."""

    def submit(self, text: str) -> bool:
        """Send *text*; return false to keep it in the entry (it was not sent)."""
        raise NotImplementedError

    def on_event(self, event: events.Event) -> None:
        """React to *event* (already shown in the transcript) on the Tk thread."""

    def after_batch(self) -> None:
        """Called after each batch of events, for work worth doing once per batch."""

    def shutdown(self) -> None:
        """Stop the core and join its threads; called once by :meth:`close`."""
        raise NotImplementedError

    def line_for(self, event: events.Event) -> Line:
        """The transcript line for *event*, styled by what it is."""
        text = events.transcript_line(event)
        if isinstance(event, events.Message):
            style = Style.OWN if event.own else Style.OTHERS
            style = Style.HISTORY if event.history else style
            return Line(event.at, text, style, speaker=event.nick)
        if isinstance(event, events.Pending):
            return Line(event.at, text, Style.PENDING)
        if isinstance(event, events.Notice) and event.history:
            return Line(event.at, event_line(event), Style.HISTORY, original=text)
        is_error = isinstance(event, events.Error) or (
            isinstance(event, events.Notice) and event.text.startswith("error:")
        )
        lost = isinstance(event, events.Disconnected) and not event.expected
        style = Style.ERROR if is_error or lost else Style.NOTICE
        return Line(event.at, event_line(event), style, original=text)

    # -- the poll loop ---------------------------------------------------------------

    def _poll(self) -> None:
        self._poll_job = None
        if self._close_requested:
            self.close()
            return
        batch = self._take(self.batch_limit)
        skipped = self._skipped - self._skipped_reported
        self._skipped_reported += skipped
        if skipped:
            batch.append(events.Error(f"{skipped} messages not shown: the window fell behind"))
        if batch:
            lines = []
            for event in batch:
                lines.append(self.line_for(event))
                self.on_event(event)
            # Lines that the events still waiting will push out of the transcript
            # need no drawing: under a flood this is what lets the window catch up.
            if self._inbox.qsize() < self.transcript.max_lines:
                self.transcript.add(lines)
            self._log(lines)
            self.after_batch()
        if not self.closed:  # on_event may have closed the window
            delay = self.busy_poll_ms if len(batch) == self.batch_limit else self.poll_ms
            self._poll_job = self.root.after(delay, self._poll)

    def _take(self, limit: int) -> list[events.Event]:
        batch: list[events.Event] = []
        while len(batch) < limit:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _log(self, lines: Sequence[Line]) -> None:
        """Write *lines* to the console in one write, as the headless server does."""
        if not lines:
            return
        text = "\n".join(console_line(line.at, line.original or line.text) for line in lines)
        self._console.write(text)

    def _send_typed(self, _event: object = None) -> str:
        text = self.entry.get()
        if text.strip() and self.can_send and self.submit(text):
            self.entry.delete(0, "end")
        self.entry.focus_set()
        return "break"  # Return is handled: no further bindings


def _configure_root(root: tk.Tk) -> list[tkfont.Font]:
    """A clean theme and readable fonts; returns the fonts, which must be kept alive."""
    style = ttk.Style(root)
    if "clam" in style.theme_names():
        style.theme_use("clam")
    base = tkfont.Font(root=root, name="TkDefaultFont", exists=True)
    size = max(int(base.actual("size")), 10)
    for name in ("TkDefaultFont", "TkTextFont"):
        tkfont.Font(root=root, name=name, exists=True).configure(size=size)
    family = base.actual("family")
    fonts = [
        tkfont.Font(root=root, name="TranscriptFont", family=family, size=size + 1),
        tkfont.Font(root=root, name="TranscriptBold", family=family, size=size + 1, weight="bold"),
        tkfont.Font(
            root=root, name="TranscriptItalic", family=family, size=size + 1, slant="italic"
        ),
    ]
    style.configure("Pane.TFrame", background="#b9b9b9")
    style.configure("Status.TFrame", background="#e4e4e2")
    style.configure("Status.TLabel", background="#e4e4e2")
    style.configure("Status.TButton", padding=(8, 0))
    return fonts
