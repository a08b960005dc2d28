#!/usr/bin/env python3
"""Compile the gettext catalogues (``tcpchat/locale/*/LC_MESSAGES/*.po`` → ``.mo``).

A small, standard-library-only stand-in for GNU ``msgfmt``, enough for the
catalogues this project writes: ``msgid``/``msgstr`` pairs with continued
strings and comments; fuzzy entries are left out, like ``msgfmt`` does.

    python scripts/compile_catalogs.py           # write every .mo next to its .po
    python scripts/compile_catalogs.py --check   # exit 1 if a .mo is missing or stale

The compiled files are committed, so installing and running tcpchat need no
gettext tools at all.
"""

from __future__ import annotations

import argparse
import ast
import struct
import sys
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "tcpchat" / "locale"
MO_MAGIC = 0x950412DE


def parse_po(text: str) -> dict[str, str]:
    """The translations in a .po file's *text*, header (msgid "") included."""
    catalog: dict[str, str] = {}
    fields: dict[str, str] = {}
    current = ""
    fuzzy = False

    def finish() -> None:
        nonlocal fuzzy
        if "msgid" in fields and "msgstr" in fields and not fuzzy and fields["msgstr"]:
            catalog[fields["msgid"]] = fields["msgstr"]
        fields.clear()
        fuzzy = False

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            finish()
            fuzzy = True
        elif not line or line.startswith("#"):
            continue
        elif line.startswith('"'):
            if not current:
                raise ValueError(f"line {number}: a string outside msgid/msgstr")
            fields[current] += _unquote(line, number)
        else:
            keyword, _, rest = line.partition(" ")
            if keyword not in ("msgid", "msgstr"):
                raise ValueError(f"line {number}: {keyword} is not supported")
            if keyword == "msgid" and "msgid" in fields:
                finish()
            current = keyword
            fields[keyword] = _unquote(rest.strip(), number)
    finish()
    return catalog


def _unquote(literal: str, number: int) -> str:
    if not (literal.startswith('"') and literal.endswith('"')):
        raise ValueError(f"line {number}: expected a quoted string, got {literal!r}")
    value = ast.literal_eval(literal)  # C-style escapes, as in Python
    assert isinstance(value, str)
    return value


def mo_bytes(catalog: dict[str, str]) -> bytes:
    """The GNU .mo file for *catalog*: a header, two index tables, the strings."""
    ids = sorted(catalog)  # sorted ids let gettext readers binary-search
    originals = [key.encode("utf-8") for key in ids]
    translations = [catalog[key].encode("utf-8") for key in ids]
    count = len(ids)
    header_size = 7 * 4
    ids_table = header_size
    strs_table = ids_table + count * 8
    data_start = strs_table + count * 8
    index: list[int] = []
    data = b""
    for string in originals + translations:
        index += [len(string), data_start + len(data)]
        data += string + b"\0"
    header = struct.pack("<7I", MO_MAGIC, 0, count, ids_table, strs_table, 0, 0)
    return header + struct.pack(f"<{4 * count}I", *index) + data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the .mo files")
    args = parser.parse_args()
    stale = []
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        compiled = mo_bytes(parse_po(po.read_text(encoding="utf-8")))
        if mo.exists() and mo.read_bytes() == compiled:
            continue
        if args.check:
            stale.append(mo)
        else:
            mo.write_bytes(compiled)
            print(f"wrote {mo.relative_to(LOCALE_DIR.parent.parent)}")
    for mo in stale:
        print(f"stale: {mo} (run python scripts/compile_catalogs.py)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
