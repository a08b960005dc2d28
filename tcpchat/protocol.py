"""The tcpchat wire protocol, sans-IO: bytes in, lines and commands out.

Nothing here touches a socket, a thread or a window.  The server and client
cores feed it the bytes they receive and send the bytes it gives back, so every
rule of the protocol can be tested with plain function calls (the approach of
h11).  The grammar is written up for humans in ``docs/protocol.md``.

The stream is UTF-8 text, one message per line, each ending in ``\\n``
(``\\r\\n`` is accepted).  That is all framing needs: TCP delivers a byte
stream, not messages, so :class:`LineBuffer` re-assembles lines from whatever
chunks ``recv()`` happens to return.  Decoding never fails: invalid UTF-8
becomes U+FFFD, and control characters are replaced by visible stand-ins
before a line is relayed, so nobody can send escape sequences to another
user's terminal.

Client to server, one line each::

    /nick NAME      change nickname        /who    list who is online
    /help           list the commands      /quit   leave
    //text          chat "/text"           text    chat "text"
    /pass SECRET    the shared password, as the first line, when the server asks

Server to client: chat as ``NAME: TEXT`` and notices as ``* TEXT``.  Every
notice's text is a :class:`~tcpchat.notices.NoticeFormat` (``WELCOME``,
``RENAMED``, …), which the server formats with and the client parses with; they
live in :mod:`tcpchat.notices` (a table too long to share this module) and are
re-exported here, so ``protocol.WELCOME`` is the protocol's own name for them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union

from tcpchat import nicks
from tcpchat.notices import (
    ALREADY_IN,
    ALREADY_NAMED,
    AWAY,
    BYE,
    CLOSING,
    CONNECTION_LOST,
    FINAL_REFUSALS,
    FIRST_LINE_ONLY,
    FLOOD_WARNING,
    HELP,
    HISTORY,
    HISTORY_END,
    JOINED,
    LEFT,
    LINE_TOO_LONG,
    NICK_REFUSED,
    NO_PASSWORD,
    NOTICES,
    ONLINE,
    PASSWORD_ACCEPTED,
    PASSWORD_MISSING,
    PASSWORD_OK,
    PASSWORD_PROMPT,
    PASSWORD_REQUIRED,
    PASSWORD_WRONG,
    RENAMED,
    SERVER_FULL,
    SESSION,
    SHUTTING_DOWN,
    STOPPING,
    STORE_DOWN,
    STORE_UP,
    TLS_ONLY,
    TLS_REQUIRED,
    TOO_MANY_CONNECTIONS,
    UNKNOWN_COMMAND,
    WELCOME,
    WELCOME_BACK,
    WELCOME_BACK_RESET,
    WELCOME_BACK_TRIMMED,
    WRONG_PASSWORD,
    NoticeFormat,
    parse_notice,
)  # fmt: skip

# The notices are part of the protocol: re-exported, so protocol.WELCOME is their name here.
__all__ = [
    "ALREADY_IN",
    "ALREADY_NAMED",
    "AWAY",
    "BYE",
    "CLOSING",
    "CONNECTION_LOST",
    "FINAL_REFUSALS",
    "FIRST_LINE_ONLY",
    "FLOOD_WARNING",
    "HELP",
    "HISTORY",
    "HISTORY_END",
    "JOINED",
    "LEFT",
    "LINE_TOO_LONG",
    "NICK_REFUSED",
    "NOTICES",
    "NO_PASSWORD",
    "ONLINE",
    "PASSWORD_ACCEPTED",
    "PASSWORD_MISSING",
    "PASSWORD_OK",
    "PASSWORD_PROMPT",
    "PASSWORD_REQUIRED",
    "PASSWORD_WRONG",
    "RENAMED",
    "SERVER_FULL",
    "SESSION",
    "SHUTTING_DOWN",
    "STOPPING",
    "STORE_DOWN",
    "STORE_UP",
    "TLS_ONLY",
    "TLS_REQUIRED",
    "TOO_MANY_CONNECTIONS",
    "UNKNOWN_COMMAND",
    "WELCOME",
    "WELCOME_BACK",
    "WELCOME_BACK_RESET",
    "WELCOME_BACK_TRIMMED",
    "WRONG_PASSWORD",
    "NoticeFormat",
    "parse_notice",
]  # fmt: skip

ENCODING = "utf-8"
NEWLINE = b"\n"
DEFAULT_PORT = 9000
"""The TCP port a server listens on and a client connects to unless told otherwise."""
MAX_LINE_BYTES = 4096
"""Default longest line (without its newline) a peer may send."""

MAX_NICK_LENGTH = nicks.MAX_NICK_LENGTH
MAX_NICK_BYTES = nicks.MAX_NICK_BYTES
NOTICE_PREFIX = "* "
COMMAND_PREFIX = "/"
CHAT_SEPARATOR = ": "
MAX_TEXT_BYTES = MAX_LINE_BYTES
"""Longest text (after neutralising, in UTF-8 bytes) of one line the server sends.

Neutralising can triple a line (ESC becomes the 3-byte ``␛``, an invalid byte
the 3-byte U+FFFD) and a server may accept longer lines (``--max-line-bytes``);
a longer text is split over several lines (:func:`split_text`), never cut.
"""
MAX_SERVER_LINE_BYTES = MAX_NICK_BYTES + len(CHAT_SEPARATOR) + MAX_TEXT_BYTES
"""Longest line the server ever sends, without its newline (4162): a chat line
of the longest nickname and the longest text.  Every notice is shorter; a
long ``/who`` is split over several lines.  Clients read with this limit."""
OPERATOR_NICK = "Server"
DEFAULT_CLIENT_NICK = "Client"


# --------------------------------------------------------------------------
# Text hygiene
# --------------------------------------------------------------------------


_INVISIBLE_LAYOUT = [
    0x2028, 0x2029,  # line and paragraph separators: a terminal may break the line there
    0x061C, 0x200E, 0x200F,  # bidi marks
    *range(0x202A, 0x202F),  # bidi embeddings and overrides (U+202E reverses what follows)
    *range(0x2066, 0x206A),  # bidi isolates
]  # fmt: skip


def _build_neutraliser() -> dict[int, str]:
    """Map every control character except tab to something visible.

    C0 controls and DEL become their Unicode "control pictures" (ESC shows as
    ``␛``), so a reader can still see what was sent; C1 controls, line and
    paragraph separators and the bidirectional controls (which would let a
    line reverse what follows it on screen), having no pictures, become U+FFFD.
    """
    table = {code: chr(0x2400 + code) for code in range(0x20) if code != 0x09}
    table[0x7F] = "\u2421"
    table.update(dict.fromkeys(range(128, 160), "\ufffd"))
    # Line and paragraph separators and the bidirectional controls: no pictures either.
    table.update(dict.fromkeys(_INVISIBLE_LAYOUT, "\ufffd"))
    return table


_NEUTRALISE = _build_neutraliser()


def neutralise(text: str) -> str:
    """Return *text* with every control character except tab made harmless."""
    if text.isprintable():  # no control characters: the common case, 5x faster
        return text
    return text.translate(_NEUTRALISE)


def split_text(text: str, max_bytes: int = MAX_TEXT_BYTES) -> list[str]:
    """*text* in pieces of at most *max_bytes* bytes of UTF-8, cut between characters."""
    if len(text) * 4 <= max_bytes or len(text.encode(ENCODING, "replace")) <= max_bytes:
        return [text]
    pieces: list[str] = []
    start = size = 0
    for index, ch in enumerate(text):
        width = len(ch.encode(ENCODING, "replace"))
        if size + width > max_bytes:
            pieces.append(text[start:index])
            start, size = index, 0
        size += width
    pieces.append(text[start:])
    return pieces


def clip(text: str, max_bytes: int) -> str:
    """*text* cut to at most *max_bytes* bytes of UTF-8, ``…`` marking a cut."""
    if len(text) * 4 <= max_bytes or len(text.encode(ENCODING, "replace")) <= max_bytes:
        return text
    return split_text(text, max_bytes - len("…".encode()))[0] + "…"


def decode_line(raw: bytes) -> str:
    """Decode one line's bytes (newline already removed); never raises."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return neutralise(raw.decode(ENCODING, "replace"))


def encode_line(text: str) -> bytes:
    """Encode one line for the wire, newline included."""
    return text.encode(ENCODING, "replace") + NEWLINE


# --------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A complete, decoded and neutralised line."""

    text: str


@dataclass(frozen=True)
class LineTooLong:
    """A line grew past the limit; it is being (or has been) discarded.

    Reported as soon as the limit is passed, not when the line ends, so a peer
    streaming a line that never ends hears about it at once.
    """

    size: int
    """Bytes of the line seen when it was reported (at least ``limit + 1``)."""
    limit: int


FrameEvent = Union[Line, LineTooLong]


class LineBuffer:
    """Turn arbitrary byte chunks into whole lines, with bounded memory.

    Feed it whatever ``recv()`` returned; it keeps the unfinished tail and
    hands back every complete line.  A line longer than :attr:`max_line_bytes`
    is reported once, as soon as it passes the limit, as :class:`LineTooLong`;
    everything up to its newline is thrown away as it streams in, so a peer
    that never sends a newline costs at most ``max_line_bytes`` of memory.
    """

    max_line_bytes: int = MAX_LINE_BYTES

    def __init__(self, max_line_bytes: int | None = None) -> None:
        if max_line_bytes is not None:
            if max_line_bytes < 1:
                raise ValueError("max_line_bytes must be at least 1")
            self.max_line_bytes = max_line_bytes
        self._pending = b""
        self._discarding = False

    @property
    def pending_bytes(self) -> int:
        """Bytes held for an unfinished line (what an idle timer watches)."""
        return len(self._pending)

    @property
    def discarding(self) -> bool:
        """True while the rest of an over-long line is being skipped."""
        return self._discarding

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Take one chunk of the stream and return the events it completes."""
        events: list[FrameEvent] = []
        if self._discarding:
            end = data.find(NEWLINE)
            if end < 0:
                return events
            self._discarding = False
            data = data[end + 1 :]
        if self._pending:
            data = self._pending + data
        *complete, rest = data.split(NEWLINE)
        limit = self.max_line_bytes
        for raw in complete:
            # A trailing "\r" belongs to the "\r\n" ending, not to the limit.
            if len(raw) > limit and not (len(raw) == limit + 1 and raw.endswith(b"\r")):
                events.append(LineTooLong(len(raw), limit))
            else:
                events.append(Line(decode_line(raw)))
        if len(rest) > limit + 1:
            events.append(LineTooLong(len(rest), limit))
            self._pending = b""
            self._discarding = True
        else:
            self._pending = rest
        return events


# --------------------------------------------------------------------------
# Client to server: commands
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Chat:
    """Chat text to broadcast to everyone."""

    text: str


@dataclass(frozen=True)
class Nick:
    """``/nick NAME``: change nickname."""

    name: str


@dataclass(frozen=True)
class Who:
    """``/who``: list the nicknames online."""


@dataclass(frozen=True)
class Help:
    """``/help``: list the commands."""


@dataclass(frozen=True)
class Quit:
    """``/quit``: leave the chat."""


@dataclass(frozen=True)
class Pass:
    """``/pass SECRET``: the shared password, sent first when the server asks."""

    secret: str = field(repr=False)  # kept out of reprs, tracebacks and logs


@dataclass(frozen=True)
class Unknown:
    """A ``/word`` that is not a command."""

    name: str


@dataclass(frozen=True)
class Hello:
    """``/hello [NICK]`` as the first line: start a session (under *nick*, if free)."""

    nick: str = ""


@dataclass(frozen=True)
class Resume:
    """``/resume LOGID POSITION NICK TOKEN`` as the first line: go on with a session."""

    log_id: str
    position: int
    nick: str
    token: str = field(repr=False)  # a secret: kept out of reprs and logs


Command = Union[Chat, Nick, Who, Help, Quit, Pass, Hello, Resume, Unknown]

SESSION_PREFIX = "~"
"""Before every line sent to one session connection only (a line without it is a log line)."""

COMMAND_HELP = (
    "/nick NAME (change your name), /who (who is online), /help (this list), "
    "/quit (leave); start a message with // to send a leading /"
)


def parse_command(text: str) -> Command | None:
    """Parse one received line; ``None`` for a line with nothing to say."""
    if not text.strip():
        return None
    if not text.startswith(COMMAND_PREFIX):
        return Chat(text)
    if text.startswith(COMMAND_PREFIX * 2):
        return Chat(text[1:])
    word, _, argument = text[1:].partition(" ")
    word = word.lower()
    if word == "nick":
        return Nick(argument.strip())
    if word == "who":
        return Who()
    if word == "help":
        return Help()
    if word == "quit":
        return Quit()
    if word == "pass":
        return Pass(argument.strip())
    if word == "hello":
        return Hello(argument.strip())
    if word == "resume":  # a malformed /resume is a /hello: a new session
        parts = argument.split()
        if len(parts) != 4 or not parts[1].isascii() or not parts[1].isdigit():
            return Hello()
        return Resume(parts[0], int(parts[1]), parts[2], parts[3])
    return Unknown(word)


def escape_chat(text: str) -> str:
    """Return the line a user types to chat *text* literally (``/x`` → ``//x``)."""
    return COMMAND_PREFIX + text if text.startswith(COMMAND_PREFIX) else text


# --------------------------------------------------------------------------
# Security extensions: what the server says before a connection joins
# --------------------------------------------------------------------------

MAX_PASSWORD_LENGTH = 256


def validate_password(secret: str) -> str | None:
    """Return why *secret* cannot be a shared password, or ``None`` if it can."""
    if not secret:
        return "a password needs at least one character"
    if len(secret) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    if secret != secret.strip():
        return "a password cannot start or end with a space"
    if secret != neutralise(secret) or "\t" in secret:
        return "a password cannot contain control characters"
    return None


# --------------------------------------------------------------------------
# Server to client: chat and notices
# --------------------------------------------------------------------------


class Kind(enum.Enum):
    """What a line from the server is."""

    CHAT = "chat"
    NOTICE = "notice"


@dataclass(frozen=True)
class ServerLine:
    """A line from the server, split into its parts."""

    kind: Kind
    text: str
    nick: str = ""


def format_chat(nick: str, text: str) -> str:
    """The line every client receives for *nick* saying *text*."""
    return f"{nick}{CHAT_SEPARATOR}{text}"


def format_notice(text: str) -> str:
    """The line for a server notice (join, leave, errors, …)."""
    return NOTICE_PREFIX + text


def parse_server_line(text: str) -> ServerLine:
    """Split a received server line into chat (with its nick) or notice."""
    if text.startswith(NOTICE_PREFIX) or text == NOTICE_PREFIX.strip():
        return ServerLine(Kind.NOTICE, text[len(NOTICE_PREFIX) :])
    nick, separator, rest = text.partition(CHAT_SEPARATOR)
    if separator and nick and validate_nick(nick) is None:
        return ServerLine(Kind.CHAT, rest, nick)
    return ServerLine(Kind.NOTICE, text)


# --------------------------------------------------------------------------
# Nicknames
# --------------------------------------------------------------------------


def validate_nick(name: str) -> str | None:
    """Return why *name* is not a valid nickname, or ``None`` if it is (:mod:`tcpchat.nicks`)."""
    return nicks.problem(name)
