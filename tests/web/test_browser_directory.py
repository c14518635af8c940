"""Issue 14 §6 in a real browser: the public canteen directory on a 390 px phone and a
1366 px desk, in zh-CN (and once in English) — search, filters, paging, the tel: and
map links — with no horizontal scroll, no console error, no English word on the Chinese
page and Beijing time. Screenshots go to tests/screenshots/directory-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from onecard.core.clock import Clock
from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org.models import Canteen
from web.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer, Watch, shot
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}
LONG_NOTE = (
    "来客请提前一天致电食堂预约，凭身份证到一楼服务台办理临时就餐卡（押金二十元，离开时退还），"
    "用餐高峰时段请错峰就餐"
)


def _city(ctx: Context, w: World) -> None:
    """Canteen A welcomes visitors (a long note), B by appointment; 24 township canteens
    with long names make three pages."""
    with ctx.db.begin() as conn:
        conn.execute(
            update(Canteen)
            .where(Canteen.id == w.canteens["A"])
            .values(
                district="北湖区",
                phone="0735-2812345",
                contact="王主任",
                coordinates="113.014872,25.770412",
                guest_access="open",
                guest_note=LONG_NOTE,
                opening_hours="早 07:00–09:00 · 午 11:30–13:30 · 晚 17:30–19:30",
            )
        )
        conn.execute(
            update(Canteen)
            .where(Canteen.id == w.canteens["B"])
            .values(district="苏仙区", phone="0735-2267890", guest_access="appointment")
        )
        for i in range(24):
            b.create_canteen(
                conn,
                w.region,
                w.units["C"],
                f"K{i:03d}",
                f"郴州市苏仙区良田镇人民政府机关职工食堂第{i + 1}分部",
                location=f"郴州市苏仙区良田镇良田大道与郴州大道交汇处东南角综合楼{i + 1}号",
            )


@pytest.fixture
def live(ctx: Context, w: World) -> Iterator[LiveServer]:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    ctx.clock = Clock()
    _city(ctx, w)
    server = LiveServer(ctx).start()
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def fits(page: Any, width: int) -> None:
    """No horizontal scroll, and nothing spills out of a canteen's card."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"{page.url} is {wide} px wide on a {width} px screen"
    spilled = page.locator("article.canteen").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth).map(e => e.dataset.canteen)"
    )
    assert spilled == [], f"{page.url}: content wider than its card in {spilled}"


def chinese_only(page: Any) -> None:
    """The zh-CN page says nothing in English and shows no stored code or UTC time."""
    text = page.inner_text("main")
    assert re.findall(r"[A-Za-z]{2,}", text) == [], page.url
    assert "北京时间" in text


def cards(page: Any) -> int:
    return int(page.locator("article.canteen").count())


def test_the_directory_on_a_phone_and_a_desk(live: LiveServer, browser: Any) -> None:
    watch = Watch()
    phone = watch.attach(browser.new_context(viewport=PHONE, locale="zh-CN").new_page())
    phone.goto(f"{live.url}/canteens")
    assert cards(phone) == 20 and "共 26 家" in phone.inner_text("#dir-total")
    fits(phone, 390)
    chinese_only(phone)
    shot(phone, "directory-list-390")
    # A search: the phone's keyboard "search" submits the form.
    phone.fill("input[name=q]", "财政局")
    phone.press("input[name=q]", "Enter")
    phone.wait_for_load_state()
    assert cards(phone) == 1
    card = phone.locator('article[data-canteen="C001"]')
    assert card.locator("a.dir-tel").get_attribute("href") == "tel:07352812345"
    assert (card.locator("a.dir-map").get_attribute("href") or "").startswith(
        "https://uri.amap.com/marker?position=113.014872%2C25.770412"
    )
    assert LONG_NOTE in card.inner_text()
    fits(phone, 390)
    chinese_only(phone)
    shot(phone, "directory-search-390")
    # Filters: a district, then visitors without a card.
    phone.goto(f"{live.url}/canteens")
    phone.select_option("select[name=district]", "苏仙区")
    phone.check("input[name=guests]")
    phone.click("#dir-search button[type=submit]")
    phone.wait_for_load_state()
    listed = phone.locator("article.canteen").evaluate_all("els => els.map(e => e.dataset.canteen)")
    assert listed == ["C002"] and "来客须预约" in phone.inner_text("main")
    fits(phone, 390)
    shot(phone, "directory-filtered-390")
    # Paging keeps going to the last page.
    phone.goto(f"{live.url}/canteens")
    phone.click("#dir-pages a[rel=next]")
    phone.wait_for_load_state()
    assert cards(phone) == 6 and "第 21–26 家" in phone.inner_text("main")
    fits(phone, 390)
    shot(phone, "directory-page2-390")

    desk = watch.attach(browser.new_context(viewport=DESK, locale="zh-CN").new_page())
    desk.goto(f"{live.url}/canteens")
    fits(desk, 1366)
    chinese_only(desk)
    # Cards sit side by side on a desk.
    tops = desk.locator("article.canteen").evaluate_all(
        "els => els.slice(0, 3).map(e => Math.round(e.getBoundingClientRect().top))"
    )
    assert tops[0] == tops[1], tops
    shot(desk, "directory-list-1366")
    desk.goto(f"{live.url}/canteens?lang=en")
    text = desk.inner_text("main")
    assert "Visitors welcome" in text and "Beijing time" in text and "搜索" not in text
    fits(desk, 1366)
    shot(desk, "directory-en-1366")
    watch.check()
