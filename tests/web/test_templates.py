"""The templates keep their promises: every phrase marked for translation has its
English, and no page loads anything from outside the server (no CDN, ever)."""

from __future__ import annotations

import re
from pathlib import Path

from onecard.web.i18n import translate

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "onecard" / "web" / "templates"
STATIC = TEMPLATES.parent / "static"


def test_every_marked_phrase_has_english() -> None:
    marked: set[str] = set()
    for page in TEMPLATES.rglob("*.html"):
        marked |= set(re.findall(r"""_\(["']([^"']+)["']\)""", page.read_text(encoding="utf-8")))
    assert marked, "no marked phrases found"
    assert sorted(m for m in marked if translate(m, "en") == m) == []


def test_no_page_or_script_reaches_outside_the_server() -> None:
    outside = re.compile(r"""(?:src|href|action)\s*=\s*["'](?:https?:)?//""", re.I)
    fetches = re.compile(r"""fetch\(\s*["'](?:https?:)?//""", re.I)
    for f in [*TEMPLATES.rglob("*.html"), *(STATIC / "js").rglob("*.js")]:
        text = f.read_text(encoding="utf-8")
        assert not outside.search(text), f
        assert not fetches.search(text), f


def test_page_titles_are_plain_text() -> None:
    """A title block holds words only: markup there ends up inside ``<title>``."""
    title = re.compile(r"\{% block title %\}(.*?)\{% endblock %\}", re.S)
    for page in TEMPLATES.rglob("*.html"):
        for block in title.findall(page.read_text(encoding="utf-8")):
            assert "<" not in block, page


def test_no_page_runs_inline_script() -> None:
    """The Content-Security-Policy runs script files from the server only: no inline
    ``<script>``, no ``on…=`` handler, no ``javascript:`` link, no ``hx-on`` (htmx would
    need eval) — behaviour lives in static/js."""
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:|hx-on|hx-vars|js:", re.I
    )
    for page in TEMPLATES.rglob("*.html"):
        found = inline.search(page.read_text(encoding="utf-8"))
        assert found is None, f"{page.relative_to(TEMPLATES)}: {found and found.group(0)}"
