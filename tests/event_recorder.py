"""A client's events, in order, with a condition to wait on (tests of ChatClient)."""

from __future__ import annotations

import threading

from tcpchat import events
from tcpchat.client import ChatClient

TIMEOUT = 15.0


class Recorder:
    """Every event of one client, in order, to wait on."""

    def __init__(self, client: ChatClient) -> None:
        self.events: list[events.Event] = []
        self.changed = threading.Condition()
        client.add_observer(self._add)

    def _add(self, event: events.Event) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait(self, what: str, predicate: object) -> None:
        assert callable(predicate)
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self.events), TIMEOUT):
                shown = "\n".join(map(repr, self.events[-30:]))
                raise AssertionError(f"timed out waiting for {what}; events:\n{shown}")

    def count(self, kind: type) -> int:
        return sum(isinstance(event, kind) for event in self.events)

    def wait_count(self, kind: type, count: int) -> None:
        self.wait(f"{count} {kind.__name__}", lambda _: self.count(kind) >= count)

    def chat(self) -> list[str]:
        """The live chat lines, as a raw peer sees them."""
        with self.changed:
            return [
                f"{event.nick}: {event.text}"
                for event in self.events
                if isinstance(event, events.Message) and not event.history
            ]

    def connections(self) -> list[tuple[str, int] | str]:
        """Connected (as an address) and Disconnected (as "lost"), in order."""
        with self.changed:
            return [
                (event.host, event.port) if isinstance(event, events.Connected) else "lost"
                for event in self.events
                if isinstance(event, (events.Connected, events.Disconnected))
            ]
