"""Every notice the server sends, one template each for formatting and parsing.

Part of the protocol (:mod:`tcpchat.protocol` re-exports every name here):
the server formats a notice's text with :meth:`NoticeFormat.format`, the client
recognises it with :meth:`NoticeFormat.parse`, from the same template, so the
two sides cannot drift apart, and a front end can translate a known notice by
looking up which one it is (:func:`parse_notice`) instead of matching strings.
``docs/protocol.md`` lists them for humans.
"""

from __future__ import annotations

import re

_FIELD = re.compile(r"\{(\w+)\}")
_NICK_FIELDS = frozenset({"nick", "old", "new"})


class NoticeFormat:
    """One kind of notice the server sends: its text with ``{field}`` holes.

    :meth:`format` fills the holes (the server's side); :meth:`parse` takes a
    received notice's text (without the ``* ``) and gives the fields back, or
    None if the text is another notice (the client's side).  One template
    for both directions, so the two cannot drift apart.  Nickname fields
    (``nick``, ``old``, ``new``) match no spaces; any other field matches
    anything, as little as it can.
    """

    __slots__ = ("_pattern", "fields", "name", "template")

    def __init__(self, name: str, template: str) -> None:
        self.name = name
        self.template = template
        self.fields = tuple(_FIELD.findall(template))
        pattern, last = [], 0
        for hole in _FIELD.finditer(template):
            pattern.append(re.escape(template[last : hole.start()]))
            field_pattern = r"\S+" if hole[1] in _NICK_FIELDS else ".+?"
            pattern.append(f"(?P<{hole[1]}>{field_pattern})")
            last = hole.end()
        pattern.append(re.escape(template[last:]))
        self._pattern = re.compile("".join(pattern) + r"\Z", re.DOTALL)

    def format(self, **fields: object) -> str:
        """The notice text (without the ``* ``) with *fields* filled in."""
        return self.template.format(**fields)

    def parse(self, text: str) -> dict[str, str] | None:
        """The fields of notice *text* if it is this kind of notice, else None."""
        found = self._pattern.match(text)
        return None if found is None else found.groupdict()

    def __repr__(self) -> str:
        return f"NoticeFormat({self.name!r}, {self.template!r})"


# In the room
WELCOME = NoticeFormat("welcome", "welcome, you are {nick}; type /help for the commands")
JOINED = NoticeFormat("joined", "{nick} joined")
LEFT = NoticeFormat("left", "{nick} left ({reason})")
RENAMED = NoticeFormat("renamed", "{old} is now {new}")
ONLINE = NoticeFormat("online", "online: {nicks}")
HELP = NoticeFormat("help", "commands: {commands}")
BYE = NoticeFormat("bye", "bye")
ALREADY_NAMED = NoticeFormat("already named", "you are already {nick}")
ALREADY_IN = NoticeFormat(
    "already in", "you are already in: /pass is only for the first line, when a server asks"
)
NICK_REFUSED = NoticeFormat(
    "nick refused", "error: cannot change nickname: {problem}; you are still {nick}"
)
UNKNOWN_COMMAND = NoticeFormat(
    "unknown command",
    "error: unknown command /{name}; type /help for the commands, or // to send a leading /",
)
LINE_TOO_LONG = NoticeFormat(
    "line too long", "error: line too long (over {limit} bytes); it is discarded up to its end"
)
FLOOD_WARNING = NoticeFormat(
    "flood warning",
    "slow down: over {rate} lines a second from your address; "
    "your lines are held back and relayed at that rate, none is lost",
)
SHUTTING_DOWN = NoticeFormat("shutting down", "server shutting down")

# Sessions (sent to a session connection only, with the "~" prefix; see docs/protocol.md)
SESSION = NoticeFormat("session", "session {token} in {log_id} at {position}")
HISTORY = NoticeFormat("history", "history: the last {count} lines")
HISTORY_END = NoticeFormat("end of history", "end of history")
WELCOME_BACK = NoticeFormat(
    "welcome back", "welcome back, you are {nick}; {count} lines you missed follow"
)
WELCOME_BACK_TRIMMED = NoticeFormat(
    "welcome back, trimmed",
    "welcome back, you are {nick}; {missed} lines you missed are no longer kept, {count} follow",
)
WELCOME_BACK_RESET = NoticeFormat(
    "welcome back, reset",
    "welcome back, you are {nick}; the server's history was reset: "
    "what was said while you were away is lost",
)
FIRST_LINE_ONLY = NoticeFormat(
    "first line only", "error: /hello and /resume only as the first line"
)
AWAY = " (away)"
"""After a nickname in the ``/who`` answer: held for a dropped session in its grace."""
CONNECTION_LOST = "connection lost"
"""The leaving reason announced when a dropped session's grace ends."""

# A room served by several servers (its log on Redis: see tcpchat.server.cluster)
STORE_DOWN = NoticeFormat(
    "store down",
    "the chat store is unreachable ({reason}); what you send is held until it is back",
)
STORE_UP = NoticeFormat("store back", "the chat store is back; held lines follow")

# At the door (before a connection joins): refusals and the password exchange
SERVER_FULL = NoticeFormat("server full", "error: server full ({limit} clients); try again later")
STOPPING = NoticeFormat(
    "stopping", "error: server shutting down ({limit} clients); try again later"
)
TOO_MANY_CONNECTIONS = NoticeFormat(
    "too many connections",
    "error: too many connections from {host} (at most {limit}); close one and try again",
)
PASSWORD_REQUIRED = NoticeFormat("password required", "password required: send /pass PASSWORD")
PASSWORD_OK = NoticeFormat("password accepted", "password accepted")
WRONG_PASSWORD = NoticeFormat("wrong password", "error: wrong password; closing")
NO_PASSWORD = NoticeFormat(
    "no password",
    "error: this server needs a password: send /pass PASSWORD first "
    "(tcpchat client --password); closing",
)
TLS_ONLY = NoticeFormat(
    "TLS only", "error: this server speaks TLS only: connect with tcpchat client --tls; closing"
)
CLOSING = NoticeFormat("closing", "error: {reason}; closing")
"""The last word to a connection being closed (a flood, a deadline; the door's refusals too)."""

NOTICES = (
    WELCOME, JOINED, LEFT, RENAMED, ONLINE, HELP, BYE, ALREADY_NAMED, ALREADY_IN,
    NICK_REFUSED, UNKNOWN_COMMAND, LINE_TOO_LONG, FLOOD_WARNING, SHUTTING_DOWN,
    SERVER_FULL, STOPPING, TOO_MANY_CONNECTIONS, PASSWORD_REQUIRED, PASSWORD_OK,
    WRONG_PASSWORD, NO_PASSWORD, TLS_ONLY, SESSION, HISTORY, HISTORY_END,
    WELCOME_BACK_TRIMMED, WELCOME_BACK_RESET, WELCOME_BACK, FIRST_LINE_ONLY, STORE_DOWN,
    STORE_UP, CLOSING,
)  # fmt: skip
"""Every notice the server sends, the most specific first (CLOSING matches the refusals too)."""


def parse_notice(text: str) -> tuple[NoticeFormat, dict[str, str]] | None:
    """Which notice *text* is, and its fields; None for a notice tcpchat does not send."""
    for notice in NOTICES:
        fields = notice.parse(text)
        if fields is not None:
            return notice, fields
    return None


PASSWORD_PROMPT = PASSWORD_REQUIRED.format()
PASSWORD_ACCEPTED = PASSWORD_OK.format()
PASSWORD_WRONG = WRONG_PASSWORD.format()
PASSWORD_MISSING = NO_PASSWORD.format()
TLS_REQUIRED = TLS_ONLY.format()
FINAL_REFUSALS = (PASSWORD_WRONG, PASSWORD_MISSING, TLS_REQUIRED)
"""Refusals that trying again will not fix (a reconnecting client stops)."""
