"""The pages' message catalogue (Babel, gettext) is complete and current: every msgid
has its English, and extracting the sources again gives exactly the catalogue's msgids
(a phrase added to a template or to ``web/phrases.py`` without ``make catalogue`` fails
here, and so does one left behind after its last use is gone)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from onecard.web.i18n import LOCALE, catalogue_path, translate

ROOT = Path(__file__).resolve().parents[2]


def _ids(path: Path) -> set[str]:
    with path.open("rb") as f:
        return {str(m.id) for m in read_po(f) if m.id}


def test_every_msgid_has_english() -> None:
    with catalogue_path("en").open("rb") as f:
        catalog = read_po(f, locale="en")
    messages = [m for m in catalog if m.id]
    assert len(messages) > 500
    untranslated = sorted(str(m.id) for m in messages if not m.string or m.fuzzy)
    assert untranslated == []


def test_the_catalogue_is_up_to_date_with_the_sources(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "--no-default-keywords",
            "-k",
            "_",
            "-k",
            "N_",
            "-o",
            str(pot),
            str(ROOT),
        ]
    )
    extracted = _ids(pot)
    assert "余额" in extracted and "最近的资金运行" in extracted
    assert sorted(extracted ^ _ids(LOCALE / "messages.pot")) == [], "run: make catalogue"
    assert sorted(extracted ^ _ids(catalogue_path("en"))) == [], "run: make catalogue"


def test_the_compiled_catalogue_translates_and_chinese_is_the_source() -> None:
    assert translate("余额", "en") == "Balance"
    assert translate("余额", "zh-CN") == "余额"
    assert translate("没有这句", "en") == "没有这句"  # unknown: the source shows
