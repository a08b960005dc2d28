"""The windows' language: gettext catalogues for English and Indonesian.

A window speaks its language throughout: buttons, labels, the status line, the
title, and every notice in its transcript, the server's (``* welcome, you
are …``) as well as its own (``* connected to …``).  Chat lines are never
translated: they are what people typed.  The console and the log file keep
the English text, as it travels on the wire, so they can be read side by
side with anyone's.

A server notice is translated by *lookup*, not by matching its words:
:func:`tcpchat.notices.parse_notice` says which :class:`NoticeFormat` it is
and gives its fields; the format's English template is the gettext message
id, and the translated template is filled with the same fields
(:func:`translate_notice`).  A notice this version does not know, or a
template the catalogue lacks, stays English.  The windows' own lines (an
event's :func:`tcpchat.events.transcript_line`) go the same way, one
template per kind of event (:func:`event_line`); a field that is one of a few
fixed English phrases (a reason such as ``quit``, the client's command list)
is translated too when the catalogue has it.

The catalogues live in ``tcpchat/locale/<lang>/LC_MESSAGES/tcpchat.po`` and are
compiled to ``.mo`` by ``scripts/compile_catalogs.py``; the compiled files are
committed, so running needs nothing beyond the standard library.
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from typing import Mapping

from tcpchat import events, notices, protocol
from tcpchat.errors import format_address
from tcpchat.notices import NoticeFormat

DOMAIN = "tcpchat"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("en", "id")

_translation: gettext.NullTranslations = gettext.NullTranslations()


def set_language(lang: str | None) -> None:
    """Speak *lang* (``"en"``, ``"id"``); with ``None``, follow the locale.

    gettext reads ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` for
    the default; a language without a catalogue falls back to English.
    """
    global _translation  # noqa: PLW0603 - gettext's own install() works the same way
    languages = [lang] if lang else None
    _translation = gettext.translation(DOMAIN, LOCALE_DIR, languages=languages, fallback=True)


def _(message: str) -> str:
    """*message* in the current language (the name gettext tools look for)."""
    return _translation.gettext(message)


PHRASE_FIELDS = frozenset({"reason", "commands"})
"""Fields whose value may be a fixed English phrase with a translation of its own."""

PHRASES = (
    "quit",
    "connection closed",
    "kicked by the operator",
    "closed",
    "the server closed the connection",
    protocol.SHUTTING_DOWN.template,
    protocol.COMMAND_HELP,
)
"""The fixed phrases found in notice fields and disconnect reasons (in the catalogues)."""

EVENT_FORMATS = {
    events.Joined: NoticeFormat("joined from", "{nick} joined from {peer}"),
    events.Error: NoticeFormat("error", "error: {text}"),
    events.Listening: NoticeFormat("listening", "listening on {address}"),
    events.Connected: NoticeFormat("connected", "connected to {address}"),
    events.Disconnected: NoticeFormat("disconnected", "disconnected: {reason}"),
    events.Stopped: NoticeFormat("stopped", "server stopped"),
}
"""The window's own lines, one template per kind of event (as ``transcript_line`` says them)."""

_WHERE = re.compile(r"(?P<why>.+) (?P<where>\([^()]*\))\Z", re.DOTALL)
"""A disconnect reason: what happened, then the address in brackets."""


def translate_notice(notice: NoticeFormat, fields: Mapping[str, str]) -> str:
    """*notice* with *fields*, in the current language (English if not translated)."""
    values = {
        name: phrase(value) if name in PHRASE_FIELDS else value for name, value in fields.items()
    }
    try:
        return _translation.gettext(notice.template).format(**values)
    except (KeyError, IndexError, ValueError):  # a broken translation: say it in English
        return notice.format(**fields)


def phrase(text: str) -> str:
    """*text* translated if it is a known phrase (a reason may end in ``(ADDRESS)``)."""
    found = _WHERE.match(text)
    if found and found["why"] in PHRASES:
        return f"{_translation.gettext(found['why'])} {found['where']}"
    return _translation.gettext(text) if text in PHRASES else text


def event_line(event: events.Event) -> str:
    """:func:`tcpchat.events.transcript_line` of *event*, in the current language."""
    if isinstance(event, (events.Message, events.Resumed, events.Pending)):
        return events.transcript_line(event)
    if isinstance(event, events.Notice):
        known = notices.parse_notice(event.text)
        if known is None:
            return events.transcript_line(event)
        return "* " + translate_notice(*known)
    if isinstance(event, events.Left):
        return "* " + translate_notice(notices.LEFT, {"nick": event.nick, "reason": event.reason})
    if isinstance(event, events.Renamed):
        return "* " + translate_notice(notices.RENAMED, {"old": event.old, "new": event.new})
    fields: dict[str, str] = {}
    if isinstance(event, events.Joined):
        fields = {"nick": event.nick, "peer": event.peer}
    elif isinstance(event, events.Error):
        fields = {"text": event.text}
    elif isinstance(event, (events.Listening, events.Connected)):
        fields = {"address": format_address(event.host, event.port)}
    elif isinstance(event, events.Disconnected):
        fields = {"reason": event.reason}
    return "* " + translate_notice(EVENT_FORMATS[type(event)], fields)
