"""The windows' language: gettext catalogues for English and Indonesian.

Only what a window says itself is translated: buttons, labels, the status line
and the title.  Chat lines and the server's notices are shown exactly as they
travel on the wire (and as the console and the log file show them), so every
participant reads the same words whatever their window's language.

The catalogues live in ``tcpchat/locale/<lang>/LC_MESSAGES/tcpchat.po`` and are
compiled to ``.mo`` by ``scripts/compile_catalogs.py``; the compiled files are
committed, so running needs nothing beyond the standard library.
"""

from __future__ import annotations

import gettext
from pathlib import Path

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
