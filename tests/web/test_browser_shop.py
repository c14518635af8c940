"""Issue 16 §1 in a real browser: the canteen manager's goods page on a 390 px phone —
the goods with their reference prices and stock, a good priced above its reference
refused on the page with the reference shown, a good added and stocked — and the till's
barcode scan adding a good's line that the card then pays, the goods page then showing
the bottles off the stock and the good's history. No horizontal scroll, no
console error. Screenshots go to tests/screenshots/shop-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from onecard.catalogue import service
from onecard.core.clock import Clock
from onecard.core.context import Context
from onecard.org.actors import Actor
from web.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer, Watch, shot
from web.pages import PASSWORD, Staff
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

PHONE = {"width": 390, "height": 844}
WATER, MILK = "6901234567892", "6902345678901"


@pytest.fixture
def live(ctx: Context, w: World, staff: Staff) -> Iterator[LiveServer]:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    ctx.clock = Clock()
    bureau = Actor.system("test")
    service.publish_references(
        ctx,
        bureau,
        w.region,
        date(2026, 1, 1),
        [
            service.ReferenceRow("矿泉水 550ml", 200, WATER, "步步高"),
            service.ReferenceRow("袋装牛奶 250ml", 350, MILK, "步步高"),
        ],
    )
    item = service.save_good(
        ctx, bureau, w.canteens["A"], service.GoodSpec("G1", "矿泉水 550ml", 190, WATER, "瓶")
    )
    service.move_stock(ctx, bureau, item, "in", 24)
    server = LiveServer(ctx).start()
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def fits(page: Any) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"{page.url} is {wide} px wide on a 390 px screen"


def test_the_goods_page_on_a_phone_and_the_till_scan(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch(expect_statuses={422})
    page = watch.attach(browser.new_context(viewport=PHONE, locale="zh-CN").new_page())
    page.goto(f"{live.url}/login")
    page.fill("input[name=staff_no]", "Scm")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    cid = w.canteens["A"]
    page.goto(f"{live.url}/shop/canteens/{cid}")
    assert "矿泉水 550ml" in page.inner_text("#goods") and "2.00" in page.inner_text("#goods")
    fits(page)
    shot(page, "shop-goods-390")
    # Milk above the large stores' 3.50: refused, the reference shown, nothing added.
    form = page.locator("#good-form")
    form.locator("input[name=sku]").fill("G2")
    form.locator("input[name=barcode]").fill(MILK)
    form.locator("input[name=name]").fill("袋装牛奶 250ml")
    form.locator("input[name=price]").fill("3.80")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "3.50" in page.inner_text("#shop-error")
    assert "袋装牛奶" not in page.inner_text("#goods")
    fits(page)
    shot(page, "shop-refused-390")
    form = page.locator("#good-form")
    form.locator("input[name=sku]").fill("G2")
    form.locator("input[name=barcode]").fill(MILK)
    form.locator("input[name=name]").fill("袋装牛奶 250ml")
    form.locator("input[name=price]").fill("3.30")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "袋装牛奶 250ml" in page.inner_text("#goods")
    fits(page)
    # The till: a scan adds the water's line, the card pays it.
    page.goto(f"{live.url}/till?canteen_id={cid}")
    page.fill("#till-barcode", WATER)
    page.press("#till-barcode", "Enter")
    page.fill("#till-barcode", WATER)
    page.press("#till-barcode", "Enter")
    assert page.input_value(f'input.qty[data-barcode="{WATER}"]') == "2"
    assert "items" in (page.get_attribute("#till-mode", "class") or "")
    page.fill("#credential", w.cards["a1"])
    page.press("#credential", "Enter")
    verdict = page.wait_for_selector("#till-verdict[data-result]")
    assert verdict.get_attribute("data-result") == "approved", verdict.inner_text()
    fits(page)
    shot(page, "shop-till-scan-390")
    # Back on the goods page the two bottles are off the stock; the good's history
    # lists the sale above the delivery.
    page.goto(f"{live.url}/shop/canteens/{cid}")
    assert "22" in page.locator("#goods tr", has_text="矿泉水").inner_text()
    page.locator("#goods tr", has_text="矿泉水").get_by_role("link", name="记录").click()
    page.wait_for_load_state()
    history = page.inner_text("#stock-history")
    assert "售出" in history and "入库" in history
    assert history.index("\t售出\t") < history.index("\t入库\t")
    fits(page)
    shot(page, "shop-history-390")
    page.set_viewport_size({"width": 1366, "height": 900})
    shot(page, "shop-history-1366")
    watch.check()
