"""The server window: the operator's chat and commands, and who is online."""

from __future__ import annotations

import time
import tkinter as tk
from tkinter import ttk
from typing import Any

from tcpchat import events
from tcpchat.errors import format_address
from tcpchat.gui.base import ChatWindow, Status
from tcpchat.gui.i18n import _, translate_notice
from tcpchat.gui.transcript import Line, Style
from tcpchat.operator import parse_operator_line, run_operator_command
from tcpchat.server import ChatServer


class ServerWindow(ChatWindow):
    """A window running *server*: :meth:`start` starts it, closing stops it.

    What is typed is said as the operator (``Server: …`` to everyone), or,
    starting with ``/``, is an operator command (:mod:`tcpchat.operator`, the
    same as in the terminal): its replies are shown here only, in the
    window's language, and a refused command stays in the entry to be fixed;
    ``/quit`` closes the window as its close button does.  The
    list on the right is refreshed from :meth:`ChatServer.nicks` once per batch
    that had an arrival, departure or rename in it.
    """

    def __init__(self, root: tk.Tk, server: ChatServer, **options: Any) -> None:
        super().__init__(root, **options)
        self.server = server
        server.add_observer(self.post)  # post() only queues: see the thread rule
        self._roster_changed = False

        side = ttk.Frame(self.body, padding=(10, 0, 0, 0))
        side.grid(row=0, column=1, sticky="ns")
        side.rowconfigure(1, weight=1)
        self._roster_title = ttk.Label(side, font="TkHeadingFont")
        self._roster_title.grid(row=0, column=0, sticky="w", pady=(0, 4))
        border = ttk.Frame(side, style="Pane.TFrame", padding=1)
        border.grid(row=1, column=0, sticky="ns")
        border.rowconfigure(0, weight=1)
        self.roster = tk.Listbox(
            border,
            width=14,
            activestyle="none",
            font="TranscriptFont",
            borderwidth=0,
            highlightthickness=6,  # white padding around the names
            highlightbackground="#ffffff",
            highlightcolor="#ffffff",
            background="#ffffff",
            foreground="#1d1d1d",
            selectbackground="#dbe8f8",
            selectforeground="#1d1d1d",
            takefocus=False,
        )
        self.roster.grid(row=0, column=0, sticky="ns")

        address = format_address(server.host, server.port)
        self.set_title(_("tcpchat server — {address}").format(address=address))
        self.set_status(Status.STARTING, _("Starting on {address}…").format(address=address))
        self._show_roster(server.nicks())

    def on_start(self) -> None:
        self.server.start()  # ChatError (address in use, …) goes to the caller

    def submit(self, text: str) -> bool:
        command = parse_operator_line(text)
        if command is None:
            return True
        # Chat comes back as an event, like everyone's; replies are for us alone.
        outcome = run_operator_command(self.server, command)
        now = time.time()
        self.show_lines(
            [
                Line(
                    now,
                    "* " + translate_notice(reply.notice, reply.fields),
                    Style.ERROR if reply.is_error else Style.NOTICE,
                    original="* " + reply.text,
                )
                for reply in outcome.replies
            ]
        )
        if outcome.quit:
            self.request_close()  # at the next tick, outside this key binding
        return not any(reply.is_error for reply in outcome.replies)

    def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Listening):
            address = format_address(event.host, event.port)
            self.set_title(_("tcpchat server — {address}").format(address=address))
            self.set_status(Status.LISTENING, _("Listening on {address}").format(address=address))
        elif isinstance(event, (events.Joined, events.Left, events.Renamed)):
            self._roster_changed = True
        elif isinstance(event, events.Stopped):
            self.set_status(Status.DISCONNECTED, _("Server stopped"))
            self.set_sending(False)

    def after_batch(self) -> None:
        if self._roster_changed:
            self._roster_changed = False
            self._show_roster(self.server.nicks())

    def shutdown(self) -> None:
        self.server.stop()  # sends the shutdown notice, joins every thread

    def _show_roster(self, nicks: list[str]) -> None:
        self._roster_title.configure(text=_("Online ({count})").format(count=len(nicks)))
        self.roster.delete(0, "end")
        for nick in nicks:
            self.roster.insert("end", nick)
        self.roster.itemconfigure(0, foreground="#1c5fb0")  # the operator: us

    @property
    def roster_nicks(self) -> list[str]:
        return [str(nick) for nick in self.roster.get(0, "end")]
