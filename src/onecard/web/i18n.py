"""The pages' languages: Chinese is the source text, English comes from a gettext catalogue.

Contract: templates write ``{{ _("余额") }}`` (Jinja's i18n extension; Python marks the
phrases it hands to templates with ``N_`` — ``web/phrases.py``); ``pybabel extract -F
babel.cfg`` collects them into ``web/locale/messages.pot`` and ``web/locale/en/
LC_MESSAGES/messages.po`` holds the English (``make catalogue`` refreshes both; see
docs/web.md "Languages"). The ``.po`` is compiled in memory when this module is first
imported (Babel's ``write_mo`` into ``gettext.GNUTranslations``), so no compiled ``.mo``
is ever kept beside it to drift. ``translations(lang)`` is the gettext object of a
language (zh-CN: the source itself); ``translate(text, lang)`` returns the English for
``lang == "en"`` when the catalogue has it, else the Chinese text, so a missing entry
shows Chinese rather than breaking a page (and tests/web/test_catalogue.py fails on it).
The language comes from ``?lang=en`` (remembered in the ``lang`` cookie), then the
cookie, then Accept-Language.
"""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request

LOCALE = Path(__file__).parent / "locale"
DOMAIN = "messages"
SOURCE = "zh-CN"  # the language the msgids are written in
LANGUAGES = ("zh-CN", "en")


def catalogue_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> gettext.NullTranslations:
    """The gettext translations of ``lang``, compiled from its ``.po`` in memory."""
    if lang == SOURCE:
        return gettext.NullTranslations()
    with catalogue_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    mo = io.BytesIO()
    # Fuzzy entries are not translations yet: the source text shows until one is made.
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def translate(text: str, lang: str) -> str:
    if lang == "en":
        return translations("en").gettext(text)
    return text


def request_lang(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang")
    if not lang:
        accept = request.headers.get("accept-language", "")
        lang = "en" if accept.lower().startswith("en") else "zh-CN"
    return "en" if lang.startswith("en") else "zh-CN"
