"""The client window: connects at start-up, shows a lost server, reconnects.

One :class:`~tcpchat.session.Session` lives as long as the window, handed to
every :class:`ChatClient` it makes, so a reconnect *resumes*: the missed
lines are replayed, nothing is doubled, the history shown on joining is
dimmed (``Style.HISTORY``), and with automatic reconnect what is typed while
disconnected is shown greyed (``Style.PENDING``) and sent after the resume.
"""

from __future__ import annotations

import threading
import tkinter as tk
from tkinter import ttk
from typing import Any, Callable

from tcpchat import events
from tcpchat.client import ChatClient
from tcpchat.errors import ChatError, format_address
from tcpchat.gui.base import ChatWindow, Status
from tcpchat.gui.i18n import _, event_line, phrase
from tcpchat.gui.transcript import Line, Style
from tcpchat.runtime import RETRY_DELAYS, retry_delay
from tcpchat.session import Session

ClientFactory = Callable[[str | None], ChatClient]
"""Makes the ChatClient for one attempt, given the nickname to ask for (TLS,
password and log file are the factory's business: see :mod:`tcpchat.cli`)."""


class ClientWindow(ChatWindow):
    """A window chatting with the server at *host*:*port*.

    :meth:`ChatClient.connect` blocks for up to its timeout, so each attempt
    runs on a short-lived *connect thread*, which reports back the only way a
    worker may: by posting an event (``Connected`` from the core, or a
    ``Disconnected`` carrying the reason it failed).  A :class:`ChatClient`
    connects only once, so every attempt gets a new one, and attempts never
    overlap: the next starts only after the last one's final event arrived.

    Status goes STARTING (connecting) → CONNECTED → DISCONNECTED, or STARTING
    → ERROR when the server cannot be reached; in both of the last two the
    Reconnect button appears, Send is disabled, and with *reconnect* a retry
    is scheduled with ``after()``, each wait longer than the last.
    """

    retry_delays = RETRY_DELAYS
    """Seconds before each automatic retry, as in the terminal client; the last repeats."""

    def __init__(
        self,
        root: tk.Tk,
        host: str,
        port: int,
        *,
        nick: str | None = None,
        reconnect: bool = False,
        new_client: ClientFactory | None = None,
        **options: Any,
    ) -> None:
        super().__init__(root, **options)
        self.host = host
        self.port = port
        self.address = format_address(host, port)
        self.auto_reconnect = reconnect
        self.client: ChatClient | None = None
        self._nick = nick
        self.session = Session(nick=nick)
        """Where this window is in the room, across its connections."""
        self._new_client = new_client or (lambda nick: ChatClient(host, port, nick=nick))
        self._connector: threading.Thread | None = None
        self._failures = 0  # in a row, for the back-off
        self._retry_job: str | None = None

        self.reconnect_button = ttk.Button(
            self.status_bar, text=_("Reconnect"), command=self.connect, style="Status.TButton"
        )
        self.reconnect_button.grid(row=0, column=2, padx=(8, 0))
        self.reconnect_button.grid_remove()
        self.set_title(_("tcpchat client — {address}").format(address=self.address))
        self.set_sending(False)

    def on_start(self) -> None:
        self.connect()

    def connect(self) -> None:
        """Start a connection attempt now (what Reconnect does)."""
        self._cancel_retry()
        if self.status in (Status.STARTING, Status.CONNECTED) and self.client is not None:
            return  # an attempt is under way, or we are connected
        self._release_client()
        client = self._new_client(self._nick)
        client.use_session(self.session)
        client.add_observer(self.post)  # post() only queues: see the thread rule
        self.client = client
        self._connector = threading.Thread(
            target=self._connect_in_background, args=(client,), name="tcpchat-connect"
        )
        self._connector.start()
        self.reconnect_button.grid_remove()
        self.set_status(Status.STARTING, _("Connecting to {address}…").format(address=self.address))

    def _connect_in_background(self, client: ChatClient) -> None:
        """The connect thread: it may block, and it touches nothing but the inbox."""
        try:
            client.connect()  # on success the core posts Connected itself
        except ChatError as exc:
            self.post(events.Disconnected(str(exc)))

    def submit(self, text: str) -> bool:
        assert self.client is not None  # Send is enabled only once connected
        try:
            if not self.client.send(text):  # never blocks; our line comes back from the server
                self.post(events.Pending(text))  # held for the resume: shown greyed
        except ChatError as exc:
            self.post(events.Error(str(exc)))
            return False
        return True

    def line_for(self, event: events.Event) -> Line:
        if isinstance(event, events.Disconnected) and self.status is Status.STARTING:
            # A failed attempt: "error: cannot connect …" reads better than "disconnected".
            failed = events.Error(event.reason)
            return Line(
                event.at, event_line(failed), Style.ERROR, original=events.transcript_line(failed)
            )
        return super().line_for(event)

    def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Connected):
            self._failures = 0
            self.set_sending(True)
            self._show_connected()
        elif isinstance(event, events.Notice) and self.status is Status.CONNECTED:
            self._show_connected()  # the welcome or a rename may have changed our nick
        elif isinstance(event, events.Disconnected):
            if self.status is Status.STARTING:
                self.set_status(Status.ERROR, event.reason)
            else:
                reason = _("Disconnected: {reason}").format(reason=phrase(event.reason))
                self.set_status(Status.DISCONNECTED, reason)
            self.reconnect_button.grid()
            # A refusal (wrong password, TLS only) would only be refused again.
            refused = self.client is not None and bool(self.client.refusal)
            retrying = self.auto_reconnect and not event.expected and not refused
            # While retrying, typed lines are held for the resume (shown pending).
            self.set_sending(retrying)
            if retrying:
                self._schedule_retry()

    def shutdown(self) -> None:
        self._cancel_retry()
        self._release_client()

    # -- helpers ---------------------------------------------------------------

    def _show_connected(self) -> None:
        assert self.client is not None
        nick = self.client.nick  # set by the reader thread before it reported the notice
        self.address = self.client.address  # after a failover: the server it went on on
        if nick:
            self._nick = nick  # ask for it again if we have to reconnect
            text = _("Connected to {address} as {nick}").format(address=self.address, nick=nick)
        else:
            text = _("Connected to {address}").format(address=self.address)
        self.set_status(Status.CONNECTED, text)

    def _schedule_retry(self) -> None:
        delay = retry_delay(self._failures, self.retry_delays)
        self._failures += 1
        self._retry_job = self.root.after(round(delay * 1000), self._retry)
        retrying = _("retrying in {seconds:g} s").format(seconds=delay)
        self.set_status(self.status, f"{self.status_text} — {retrying}")

    def _retry(self) -> None:
        self._retry_job = None
        self.connect()

    def _cancel_retry(self) -> None:
        if self._retry_job is not None:
            self.root.after_cancel(self._retry_job)
            self._retry_job = None

    def _release_client(self) -> None:
        """Finish the last attempt: join its connect thread, close its client."""
        if self._connector is not None:
            self._connector.join()  # at most ChatClient.connect_timeout, on close only
            self._connector = None
        if self.client is not None:
            self.client.close()  # says /quit if connected; joins reader and writer
