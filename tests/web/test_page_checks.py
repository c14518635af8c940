"""The page checks of ``web/page_checks.py`` on small pages: each one fails where it
must (a raw code, an English word, a UTC time, a page wider than a phone) and passes a
page that is right."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from web.browser import CHROMIUM, PHONE
from web.page_checks import (
    VISIBLE_TEXT_JS,
    foreign_words,
    local_renderings,
    shows_local,
    squeezed,
    sticking_out,
    utc_marks,
    utc_renderings,
)

EVENING_UTC = datetime(2026, 11, 29, 21, 24, 7)  # 2026-11-30 05:24 in Beijing


def test_stored_codes_and_english_words_are_caught() -> None:
    text = (
        "状态：active 运营：outsourced 终端 live\n操作 import_roster 对象 person:23:张伟 Settlement"
    )
    assert foreign_words(text) == [
        "active",
        "outsourced",
        "live",
        "import_roster",
        "person",
        "Settlement",
    ]


def test_identifiers_names_and_the_allowed_words_pass() -> None:
    text = "工号 Sb1 单位 U001 终端 T-A1 2026Q4 导出 Excel、PDF、CSV；数字人民币 e-CNY；OneCard 人员 ID；5 kg"
    assert foreign_words(text) == []
    # A staff number without a digit is data the test typed: allowed only when given.
    assert foreign_words("管理员 Sua") == ["Sua"]
    assert foreign_words("管理员 Sua", extra=frozenset({"Sua"})) == []


def test_machine_times_are_caught() -> None:
    assert utc_marks("时间 2026-11-29T21:24:07Z") == ["2026-11-29T21:24:07Z"]
    assert utc_marks("21:24 UTC") == ["UTC"]
    assert utc_marks("2026-11-29 21:24:07+00:00") == ["+00:00"]
    assert utc_marks("北京时间 2026-11-30 05:24") == []


def test_a_record_shown_in_utc_is_caught_and_in_beijing_time_is_not() -> None:
    assert local_renderings(EVENING_UTC) == ("2026-11-30 05:24", "11-30 05:24")
    utc_page = "导入名册 2026-11-29 21:24"
    assert utc_renderings(utc_page, EVENING_UTC) == ["21:24", "2026-11-29"]
    assert not shows_local(utc_page, EVENING_UTC)
    local_page = "导入名册 2026-11-30 05:24"
    assert utc_renderings(local_page, EVENING_UTC) == []
    assert shows_local(local_page, EVENING_UTC)
    assert shows_local("今日收款 05:24:07", EVENING_UTC, form="clock")
    assert not shows_local("今日收款 21:24:07", EVENING_UTC, form="clock")
    assert shows_local("拨付日 2026-11-30", EVENING_UTC, form="day")
    assert not shows_local("拨付日 2026-11-29", EVENING_UTC, form="day")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)")
def test_on_small_html_pages_in_a_phone_window(browser: Any) -> None:
    page = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
    page.set_content(
        "<html><head><title>名册</title></head><body><main>"
        "<p>状态 <span>active</span></p><p style='display:none'>hidden words</p>"
        "<input placeholder='Search'></main></body></html>"
    )
    text = page.evaluate(VISIBLE_TEXT_JS)
    assert foreign_words(text) == ["active", "Search"]  # what is hidden is not read
    page.set_content("<body><p>午餐 <span translate='no'>lunch</span> breakfast</p></body>")
    assert foreign_words(page.evaluate(VISIBLE_TEXT_JS)) == ["breakfast"]
    assert sticking_out(page) == []

    page.set_content("<body><div id='wide' style='width:600px'>宽</div></body>")
    problems = sticking_out(page)
    assert problems[0].startswith("scrolls sideways") and "div#wide" in problems[1]

    # A wide table in its own scrolling box is how a phone reads it.
    page.set_content(
        "<body><div style='overflow-x:auto'><table style='width:900px'><tr><td>宽表</td>"
        "</tr></table></div></body>"
    )
    assert sticking_out(page) == []
    # Clipped by the page (overflow-x hidden on body) but still reaching past the edge.
    page.set_content(
        "<body style='overflow-x:hidden;margin:0'><p style='position:relative;left:300px;"
        "width:200px'>出界</p></body>"
    )
    assert any("p reaches 500 px" in p for p in sticking_out(page))

    # A name squeezed into a narrow column reads one character per line.
    page.set_content(
        "<body><table style='width:360px'><tr><td style='width:350px'>"
        + "很长的说明文字" * 8
        + "</td><td>命令行</td></tr></table></body>"
    )
    assert len(squeezed(page)) == 1 and "命令行" in squeezed(page)[0]
    page.set_content("<body><table><tr><td>命令行</td></tr></table></body>")
    assert squeezed(page) == []
