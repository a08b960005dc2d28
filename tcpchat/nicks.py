"""Nickname rules: what a name may contain, its normal form, and when two names are one.

A nickname is what everyone reads in front of a chat line, so the rules here
are about what people *see*, not about code points:

* A name is kept in Unicode normal form NFKC (:func:`normalise`), so the
  full-width ``\uff33erver`` and the ligature ``ﬁ`` become the plain letters they
  look like before anything is compared or shown.
* A name may not contain invisible code points: format characters (category
  ``Cf``: zero-width space U+200B, word joiner U+2060, soft hyphen U+00AD, the
  bidirectional controls such as U+202E, which would reverse ``Server`` into
  view from ``\\u202erevreS``), the other default-ignorable fillers (U+3164
  and friends, variation selectors), unassigned, private-use or surrogate
  code points.
* A name needs at least one visible letter or digit, so a name made of
  blank Braille cells (U+2800) alone is refused.
* Two names are the same name when their :func:`skeleton` is the same: the
  NFKC form, accents removed, letters from other scripts that look like Latin
  ones (Cyrillic DZE ``\u0405``, Greek omicron ``\u039f``) and the classic ASCII look-alikes
  (``0``/``O``, ``1``/``I``/``l``, ``rn``/``m``) folded together, then
  case-folded.  This is a small, hand-made cousin of the "skeleton" of
  Unicode's UTS #39, built from the standard library's :mod:`unicodedata`
  only; it errs on the side of calling two names the same (a refused name
  costs a user a moment, an impersonated one costs trust).

Pure code: no I/O, used by :func:`tcpchat.protocol.validate_nick` and by the
room's uniqueness check (:class:`tcpchat.room.ChatRoom`).
"""

from __future__ import annotations

import unicodedata

MAX_NICK_LENGTH = 32
"""Longest nickname, in characters."""
MAX_NICK_BYTES = 64
"""Longest nickname, in UTF-8 bytes (what bounds the longest line the server sends)."""

_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp", "Zs"})
"""Controls, format characters (bidi controls, zero-widths, soft hyphen), unassigned,
private-use and surrogate code points, and separators: none may be in a name."""

_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong / jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x2800, 0x2800),  # Braille blank: not default-ignorable, but shows as nothing
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xE0000, 0xE0FFF),  # tags and variation selectors supplement
)
"""Default-ignorable code points (and the blank Braille cell) outside the categories above."""


def _invisible(ch: str) -> bool:
    code = ord(ch)
    if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
        return True
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


def normalise(name: str) -> str:
    """*name* in the form the server keeps and shows: NFKC, trimmed."""
    return unicodedata.normalize("NFKC", name).strip()


def problem(name: str) -> str | None:
    """Why *name* (as given, not normalised) cannot be a nickname, or ``None`` if it can."""
    if not name:
        return "a nickname needs at least one character"
    if len(name) > MAX_NICK_LENGTH:
        return f"a nickname has at most {MAX_NICK_LENGTH} characters"
    if len(name.encode("utf-8", "replace")) > MAX_NICK_BYTES:
        return f"a nickname has at most {MAX_NICK_BYTES} bytes in UTF-8"
    if any(ch.isspace() for ch in name):
        return "a nickname cannot contain spaces"
    if ":" in name:
        return "a nickname cannot contain ':'"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "a nickname cannot contain control characters"
    if any(_invisible(ch) for ch in name):
        return "a nickname cannot contain invisible or direction-changing characters"
    if name[0] in "*/~":  # a notice, a command, a line for one session connection
        return "a nickname cannot start with '*', '/' or '~'"
    if not any(unicodedata.category(ch)[0] in "LN" for ch in name):
        return "a nickname needs at least one letter or digit"
    if unicodedata.normalize("NFKC", name) != name:
        return "a nickname must be in Unicode normal form NFKC"
    return None


def _confusables() -> dict[int, str]:
    """Letters of other scripts (either case) that look like Latin ones, to lower-case ASCII."""
    look_alikes = {  # Cyrillic and Greek letters of either case, then ASCII itself
        "a": "\u0430\u0410\u03b1\u0391",
        "b": "\u0432\u0412\u044c\u042c\u03b2\u0392",
        "c": "\u0441\u0421",
        "d": "\u0501",
        "e": "\u0435\u0415\u0451\u0401\u03b5\u0395",
        "h": "\u04bb\u04ba\u043d\u041d\u03b7\u0397",
        "j": "\u0458\u0408",
        "k": "\u043a\u041a\u03ba\u039a",
        # i, l, I, 1 and | are one letter: a capital I looks like an l, so a small i
        # must fold with them, or "ALICE" (aLlce) would not be "alice" (alice).
        "l": "\u04cf\u04c0Il1|i\u0456\u0406\u0457\u0407\u03b9\u0399",
        "m": "\u043c\u041c\u03bc\u039c",
        "o": "\u043e\u041e\u03bf\u039f0",
        "p": "\u0440\u0420\u03c1\u03a1",
        "q": "\u051b\u051a",
        "r": "\u0433",
        "s": "\u0455\u04055",
        "t": "\u0442\u0422\u03c4\u03a4",
        "v": "\u03bd\u039d",
        "w": "\u051d\u051c",
        "x": "\u0445\u0425\u03c7\u03a7",
        "y": "\u0443\u0423\u04af\u04ae\u03c5\u03a5",
        "z": "\u03b6\u0396",
    }
    return {ord(ch): ascii_ for ascii_, chars in look_alikes.items() for ch in chars}


_CONFUSABLES = _confusables()


def skeleton(name: str) -> str:
    """What *name* looks like: names with the same skeleton are the same name.

    NFKC, accents dropped, look-alike letters folded to ASCII, case-folded,
    ``rn`` read as ``m`` and ``vv`` as ``w``.
    """
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_CONFUSABLES).casefold().translate(_CONFUSABLES)
    return text.replace("rn", "m").replace("vv", "w")
