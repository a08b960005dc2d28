"""The window's gettext catalogues: complete, compiled, and in use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tcpchat.gui import i18n

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
GUI_SOURCES = sorted((REPO / "tcpchat" / "gui").glob("*.py"))


def translatable_strings() -> set[str]:
    """Every literal passed to ``_()`` in the window code."""
    found = set()
    for path in GUI_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_window_string_is_translated(lang: str) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from compile_catalogs import parse_po
    finally:
        sys.path.pop(0)
    po = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "tcpchat.po"
    catalog = parse_po(po.read_text(encoding="utf-8"))
    missing = translatable_strings() - catalog.keys()
    assert not missing, f"{po} lacks {sorted(missing)}"


def test_compiled_catalogues_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compile_catalogs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_indonesian_says_kirim_and_english_says_send() -> None:
    try:
        i18n.set_language("id")
        assert i18n._("Send") == "Kirim"
        i18n.set_language("en")
        assert i18n._("Send") == "Send"
    finally:
        i18n.set_language(None)


def test_the_default_follows_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "id_ID.UTF-8")
    try:
        i18n.set_language(None)
        assert i18n._("Reconnect") == "Sambung ulang"
    finally:
        monkeypatch.setenv("LANG", "C.UTF-8")
        i18n.set_language(None)
