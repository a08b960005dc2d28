"""Every notice a window shows has its translation (issue 14 item 8): the server's notice
templates, the operator's replies, the window's own lines and the fixed phrases in fields."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tcpchat import events, notices, operator, protocol
from tcpchat.gui import i18n

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(
    {notice.template for notice in notices.NOTICES}
    | {reply.template for reply in operator.REPLIES}
    | {notice.template for notice in i18n.EVENT_FORMATS.values()}
)
PHRASES = sorted({*i18n.PHRASES, operator.COMMAND_SUMMARY})


def catalog(lang: str) -> dict[str, str]:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from compile_catalogs import parse_po
    finally:
        sys.path.pop(0)
    po = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "tcpchat.po"
    return dict(parse_po(po.read_text(encoding="utf-8")))


@pytest.fixture
def indonesian() -> Iterator[None]:
    i18n.set_language("id")
    yield
    i18n.set_language("en")


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_notice_template_and_phrase_is_in_the_catalogue(lang: str) -> None:
    missing = set(TEMPLATES + PHRASES) - catalog(lang).keys()
    assert not missing, f"the {lang} catalogue lacks {sorted(missing)}"


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_indonesian_template_has_the_same_fields(template: str) -> None:
    translated = catalog("id")[template]
    assert translated != template
    assert sorted(re.findall(r"\{\w+\}", translated)) == sorted(re.findall(r"\{\w+\}", template))


SAMPLES = [
    events.Notice(protocol.WELCOME.format(nick="Client")),
    events.Notice(protocol.LEFT.format(nick="budi", reason="quit")),
    events.Notice(protocol.HELP.format(commands=protocol.COMMAND_HELP)),
    events.Notice("a notice from another server"),
    events.Joined("budi", "127.0.0.1:5000"),
    events.Left("budi", "kicked by the operator"),
    events.Renamed("Client", "budi"),
    events.Error("message too long"),
    events.Listening("127.0.0.1", 9000),
    events.Connected("127.0.0.1", 9000),
    events.Disconnected("closed (127.0.0.1:9000)"),
    events.Stopped(),
    events.Message("budi", "welcome, you are Client; type /help for the commands"),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: type(event).__name__)
def test_in_english_a_window_line_is_the_transcript_line(event: events.Event) -> None:
    i18n.set_language("en")
    assert i18n.event_line(event) == events.transcript_line(event)


@pytest.mark.usefixtures("indonesian")
def test_in_indonesian_notices_are_translated_by_kind_and_chat_is_not() -> None:
    lines = [i18n.event_line(event) for event in SAMPLES]
    assert lines == [
        "* selamat datang, Anda adalah Client; ketik /help untuk daftar perintah",
        "* budi meninggalkan obrolan (keluar)",
        "* perintah: " + catalog("id")[protocol.COMMAND_HELP],
        "* a notice from another server",  # unknown: left as it came
        "* budi bergabung dari 127.0.0.1:5000",
        "* budi meninggalkan obrolan (dikeluarkan oleh operator)",
        "* Client sekarang bernama budi",
        "* kesalahan: message too long",
        "* mendengarkan di 127.0.0.1:9000",
        "* terhubung ke 127.0.0.1:9000",
        "* terputus: ditutup (127.0.0.1:9000)",
        "* server berhenti",
        "budi: welcome, you are Client; type /help for the commands",  # chat, as typed
    ]


@pytest.mark.usefixtures("indonesian")
def test_a_nickname_that_looks_like_a_phrase_is_not_translated() -> None:
    assert i18n.event_line(events.Renamed("quit", "closed")) == "* quit sekarang bernama closed"
