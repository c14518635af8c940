"""Issue 16 §5 in a real browser (zh-CN, 390 and 1366 px): the canteen manager's
purchasing page — a failed batch refused on the page (409, nothing used), a use
recorded — the purchase list with its print button, a batch traced to its meals; the
bureau's 食材溯源 tab. No sideways scroll, no squeezed cell, no console error.
Screenshots go to tests/screenshots/sourcing-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from onecard.catalogue import service as catalogue
from onecard.core.clock import Clock
from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.sourcing import service
from web.browser import CHROMIUM, LiveServer, Watch, fits, launch, shot, sign_in
from web.page_checks import squeezed, sticking_out
from web.pages import Staff
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

SIZES = {"390": {"width": 390, "height": 844}, "1366": {"width": 1366, "height": 900}}


@pytest.fixture
def live(ctx: Context, w: World, staff: Staff) -> Iterator[LiveServer]:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    ctx.clock = Clock()
    today = ctx.clock.today()
    system = Actor.system("test")
    cid = w.canteens["A"]
    pork_dish = catalogue.save_dish(ctx, system, cid, catalogue.DishSpec("D1", "红烧肉", 1200))
    egg_dish = catalogue.save_dish(ctx, system, cid, catalogue.DishSpec("D2", "番茄炒蛋", 600))
    pork = service.add_ingredient(ctx, system, cid, "猪五花肉", "kg", 1000)
    egg = service.add_ingredient(ctx, system, cid, "鸡蛋", "个", 50)
    service.save_recipe(ctx, system, cid, pork_dish, [(pork, 150)])
    service.save_recipe(ctx, system, cid, egg_dish, [(egg, 100)])
    meat = service.add_supplier(ctx, system, cid, "郴州市肉类联合加工厂", "JY14310020001234")
    farm = service.add_supplier(ctx, system, cid, "北湖区蛋鸡养殖场", "JY14310020009999")
    yesterday = today - timedelta(days=1)
    service.receive_batch(
        ctx, system, cid, service.BatchSpec(pork, meat, "ZR-01", yesterday, "40", 2800, "pass")
    )
    service.receive_batch(
        ctx,
        system,
        cid,
        service.BatchSpec(egg, farm, "DY-02", today, "300", 60, "fail", "蛋壳破损较多"),
    )
    server = LiveServer(ctx).start()
    yield server
    server.stop()


def looks_right(page: Any, name: str) -> None:
    fits(page)
    assert not sticking_out(page), sticking_out(page)
    assert not squeezed(page), squeezed(page)
    shot(page, name)


@pytest.mark.parametrize("size", list(SIZES))
def test_the_manager_and_the_bureau_trace_a_batch(
    ctx: Context, w: World, live: LiveServer, size: str
) -> None:
    cid = w.canteens["A"]
    watch = Watch(expect_statuses={409})
    with launch() as browser:
        page = watch.attach(browser.new_context(viewport=SIZES[size], locale="zh-CN").new_page())
        sign_in(page, live.url, "Scm")
        page.goto(f"{live.url}/sourcing/canteens/{cid}")
        assert "猪五花肉 150 克" in page.inner_text("#recipe-table")
        assert "不合格" in page.inner_text("#batch-table")
        # The failed egg batch is not offered; the pork batch is, and a use is recorded.
        options = page.locator("#use-form select[name=batch_id] option").all_inner_texts()
        assert any("ZR-01" in o for o in options) and not any("DY-02" in o for o in options)
        looks_right(page, f"sourcing-canteen-{size}")
        form = page.locator("#use-form")
        form.locator("select[name=dish_id]").select_option(label="红烧肉")
        form.locator("input[name=quantity]").fill("45")  # more than the 40 kg delivered
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "只剩 40" in page.inner_text("#sourcing-error")
        assert "暂无记录" in page.inner_text("#use-table")
        looks_right(page, f"sourcing-refused-{size}")
        form = page.locator("#use-form")
        form.locator("select[name=dish_id]").select_option(label="红烧肉")
        form.locator("input[name=quantity]").fill("12.5")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "12.5 kg" in page.inner_text("#use-table")
        # Tomorrow's purchase list: 200 portions of 红烧肉 → 30 kg, 27.5 kg on hand.
        page.click("#purchase-link")
        page.wait_for_load_state()
        page.check(f"input[name=pick][value='{_dish(page, '红烧肉')}:lunch']")
        page.fill(f"input[name=n_{_dish(page, '红烧肉')}_lunch]", "200")
        page.click("#plan-form button[type=submit]")
        page.wait_for_load_state()
        need = page.inner_text("#need-table")
        assert "猪五花肉" in need and "30" in need and "2.5" in need
        assert page.locator("button[data-print]").count() == 1
        looks_right(page, f"sourcing-purchase-{size}")
        # The bureau: the tab, the batch traced to the lunch it reached.
        sign_in(page, live.url, "Sbu", totp=True)
        page.goto(f"{live.url}/bureau/sourcing?q=ZR")
        assert "ZR-01" in page.inner_text("#bureau-batches")
        assert "350.00" in page.inner_text("#cost-table")  # 12.5 kg × 28.00
        looks_right(page, f"sourcing-bureau-{size}")
        page.click("#bureau-batches a")
        page.wait_for_load_state()
        assert "财政局机关食堂" in page.inner_text("#batch-trace")
        looks_right(page, f"sourcing-batch-{size}")
        page.click("#batch-trace a")
        page.wait_for_load_state()
        assert "JY14310020001234" in page.inner_text("#meal-trace")
        looks_right(page, f"sourcing-meal-{size}")
    watch.check()


def _dish(page: Any, name: str) -> str:
    """The dish id of a row of the plan table, from its tick box."""
    box = page.locator("#plan-table tr", has_text=name).locator("input[name=pick]").first
    return str(box.get_attribute("value")).split(":")[0]
