"""Nicknames kept for dropped sessions, so a reconnecting client gets its name back.

When a session's connection drops without ``/quit`` (a cut cable, a
laptop lid, a server too slow to notice), the room does not announce the
leave at once: it keeps the nickname for a *grace period* under the
session's token.  A ``/resume`` with that token within the grace takes the
name back and nobody sees a leave or a join; when the grace ends first,
the room announces ``* Eve left (connection lost)`` and frees the name.

Tokens are random secrets (:func:`new_token`) handed to the session's own
connection only: knowing a nickname is not enough to take it over.

Pure and clock-free like :mod:`tcpchat.guard`: the caller passes the time
in, and asks :meth:`Reservations.expired` when :meth:`next_deadline` comes.
Not thread-safe: the room is called under the server's lock.
"""

from __future__ import annotations

import heapq
import secrets


def new_token() -> str:
    """A fresh session token: 128 random bits, in hex."""
    return secrets.token_hex(16)


class Reservations:
    """Nicknames held for tokens until a deadline."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self._held: dict[str, tuple[str, float]] = {}  # token -> (nick, deadline)
        self._deadlines: list[tuple[float, str]] = []  # a heap of (deadline, token)

    def __len__(self) -> int:
        return len(self._held)

    def nicks(self) -> list[str]:
        """The nicknames held now, oldest drop first."""
        return [nick for nick, _ in sorted(self._held.values(), key=lambda held: held[1])]

    def hold(self, token: str, nick: str, now: float) -> bool:
        """Keep *nick* for *token* until ``now + grace``; False if there is no grace."""
        if self.grace_seconds <= 0:
            return False
        deadline = now + self.grace_seconds
        self._held[token] = (nick, deadline)
        heapq.heappush(self._deadlines, (deadline, token))
        return True

    def holds(self, nick: str) -> str | None:
        """The token *nick* is held for, or None."""
        for token, (held, _) in self._held.items():
            if held == nick:
                return token
        return None

    def claim(self, token: str) -> str | None:
        """The nickname held for *token*, released to its owner; None if none is held."""
        held = self._held.pop(token, None)
        return None if held is None else held[0]

    def next_deadline(self) -> float | None:
        """When the next grace ends (for the caller's timer); None if nothing is held."""
        while self._deadlines:
            deadline, token = self._deadlines[0]
            if self._held.get(token, (None, None))[1] == deadline:
                return deadline
            heapq.heappop(self._deadlines)  # claimed or held again since: stale
        return None

    def expired(self, now: float) -> list[str]:
        """The nicknames whose grace has ended by *now*, released, in order of their ends."""
        gone = []
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            _, token = heapq.heappop(self._deadlines)
            gone.append(self._held.pop(token)[0])
        return gone
