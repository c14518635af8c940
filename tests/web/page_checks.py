"""What a zh-CN page must not show, as reusable checks (issue 14's closing requirement).

Contract: each check takes what a page shows and returns the problems it found (an empty
list when the page is fine), so a test can collect every problem of every page before it
fails, and each check has unit tests of its own on small pages
(``tests/web/test_page_checks.py``):

- ``foreign_words(text)``: Latin-letter words in the visible text of a Chinese page — an
  untranslated phrase (``Settlement``) or a stored code shown raw (``active``, ``live``,
  ``outsourced``, ``import_roster``, ``person:23:…``). A word that contains a digit is an
  identifier people type or quote (staff number ``Sb1``, unit code ``U001``, terminal
  ``T-A1``, quarter ``2026Q4``) and passes; so do the few names in ``ALLOWED`` and the
  data the test itself typed (``extra``, e.g. staff numbers without a digit).
- ``utc_marks(text)``: a time written for machines — ``UTC``, ``GMT``, an offset
  ``+00:00``, an ISO instant ``2026-11-29T21:24:07Z``.
- ``utc_renderings(text, at)``: the UTC reading of a record made at ``at`` (naive UTC),
  when it differs from the city's reading: its UTC minute (``21:24``) and, when the two
  readings fall on different days, its UTC date (``2026-11-29``).
- ``local_renderings(at)``: the forms the city's reading of ``at`` takes on a page
  (``2026-11-30 05:24``, ``11-30 05:24``), and ``shows_local(text, at)`` whether a page
  shows it (or only its minute, or only its day).
- ``OVERFLOW_JS`` / ``sticking_out(page)``: the page scrolls sideways, or an element
  reaches past the window's right edge without a scrolling box around it.
- ``SQUEEZED_JS`` / ``squeezed(page)``: a table cell or list item so narrow that its
  words stand one character per line (a name read down a column, as issue 14 saw on a
  phone).
- ``VISIBLE_TEXT_JS``: what a person reads (the body's ``innerText``, the title, the
  placeholders), less what the page marks ``translate="no"`` — HTML's standard mark for
  text that is not language (a meal's code the admin types, a browser's user agent); the
  mark is visible in the template, where a review sees each use.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from onecard.core.clock import to_local

# Names that stay Latin in Chinese text, each for a reason:
ALLOWED = frozenset(
    {
        "OneCard",  # the product's name
        "PDF",  # file formats people know by these names
        "Excel",
        "CSV",
        "e-CNY",  # the digital yuan's own name
        "ID",  # as in 人员 ID
        "kg",  # units
        "English",  # the language switch names the other language in that language
    }
)

_TOKEN = re.compile(r"[A-Za-z0-9_\-]*[A-Za-z][A-Za-z0-9_\-]*")
_UTC = re.compile(
    r"\bUTC\b|\bGMT\b|[+-]00:?00\b|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?"
)


def foreign_words(text: str, extra: frozenset[str] = frozenset()) -> list[str]:
    """Each distinct Latin-letter word of ``text`` a Chinese reader should not meet."""
    found: list[str] = []
    for token in _TOKEN.findall(text):
        word = token.strip("-_")
        if not word or any(ch.isdigit() for ch in word):
            continue
        if word in ALLOWED or word in extra or word in found:
            continue
        found.append(word)
    return found


def utc_marks(text: str) -> list[str]:
    """Every machine-time mark in ``text``."""
    return [m.group(0) for m in _UTC.finditer(text)]


def utc_renderings(text: str, at: datetime) -> list[str]:
    """The UTC readings of ``at`` that ``text`` shows instead of the city's."""
    local = to_local(at)
    shown = []
    if at.strftime("%H:%M") != local.strftime("%H:%M"):
        shown.append(at.strftime("%H:%M"))
    if at.date() != local.date():
        shown.append(at.strftime("%Y-%m-%d"))
    return [form for form in shown if form in text]


def local_renderings(at: datetime) -> tuple[str, ...]:
    """How a page may write the city's reading of ``at``: the day and the minute."""
    local = to_local(at)
    return (local.strftime("%Y-%m-%d %H:%M"), local.strftime("%m-%d %H:%M"))


def shows_local(text: str, at: datetime, form: str = "minute") -> bool:
    """Whether ``text`` shows the city's reading of ``at``: its day and minute
    (``form="minute"``), the minute alone (``"clock"``: a list of one day whose date is
    written once above it) or the day alone (``"day"``: a page of dates)."""
    local = to_local(at)
    if form == "clock":
        return local.strftime("%H:%M") in text
    if form == "day":
        return local.strftime("%Y-%m-%d") in text
    return any(shown in text for shown in local_renderings(at))


# What a person reads, less what the page marks ``translate="no"`` (HTML's own mark for
# text that is not language: a code the person types, a browser's self-description).
VISIBLE_TEXT_JS = """() => {
  let body = document.body.innerText;
  for (const el of document.body.querySelectorAll('[translate="no"]')) {
    if (el.innerText) body = body.replace(el.innerText, ' ');
  }
  return [
    document.title,
    body,
    ...Array.from(document.querySelectorAll('[placeholder]:not([translate="no"])'))
       .filter(e => e.offsetParent !== null).map(e => e.placeholder),
  ].join('\\n');
}"""

# The page's scroll width against the window, and every visible element whose right edge
# passes the window's, unless a box between it and the page scrolls sideways (a wide
# table in its own scrolling box is how a phone reads it).
OVERFLOW_JS = """() => {
  const limit = window.innerWidth;
  const out = [];
  const scrolls = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x === 'auto' || x === 'scroll' || x === 'hidden') return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= limit + 1) continue;
    if (getComputedStyle(el).visibility === 'hidden' || scrolls(el)) continue;
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.classList.length ? '.' + Array.from(el.classList).join('.') : '');
    out.push(name + ' reaches ' + Math.round(r.right) + ' px');
    if (out.length >= 5) break;
  }
  return {width: document.scrollingElement.scrollWidth, window: limit, out: out};
}"""


def sticking_out(page: Any) -> list[str]:
    """Why ``page`` is wider than its window (nothing when it fits)."""
    got = page.evaluate(OVERFLOW_JS)
    problems = [f"sticks out: {o}" for o in got["out"]]
    if got["width"] > got["window"]:
        problems.insert(0, f"scrolls sideways: {got['width']} px in a {got['window']} px window")
    return problems


# Cells and items whose box is narrower than two characters of its own font while its
# text is three or more characters long: the text stands one character per line.
SQUEEZED_JS = """() => {
  const out = [];
  for (const el of document.body.querySelectorAll('td, th, dd, dt, li')) {
    const text = (el.innerText || '').replace(/\\s+/g, '');
    if (text.length < 3) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const st = getComputedStyle(el);
    const size = parseFloat(st.fontSize);
    const inner = r.width - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight);
    if (inner < 1.9 * size && r.height > 2.5 * size) {
      out.push(el.tagName.toLowerCase() + ' "' + text.slice(0, 12) + '" is ' +
               Math.round(inner) + ' px wide');
      if (out.length >= 5) break;
    }
  }
  return out;
}"""


def squeezed(page: Any) -> list[str]:
    """The cells of ``page`` whose words stand one character per line."""
    return [f"one character per line: {s}" for s in page.evaluate(SQUEEZED_JS)]
