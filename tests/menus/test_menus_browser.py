"""Issue 16 §2 in a real browser (zh-CN, 390 and 1366 px): the diner's week with each
dish's nutrition, a pre-order paid ahead (the hold shown), the canteen's counts and the
pick-up page reached from the till's button. No sideways scroll, no Latin word a Chinese
reader should not meet, no console error. Screenshots: tests/screenshots/menus-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time, timedelta
from typing import Any

import pytest

from onecard.core.clock import Clock
from onecard.core.context import Context
from onecard.menus import service as menus
from onecard.org.actors import Actor
from web.browser import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    LiveServer,
    Watch,
    launch,
    shot,
    sign_in,
)
from web.page_checks import VISIBLE_TEXT_JS, foreign_words, squeezed, sticking_out
from web.pages import Staff
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]
SYSTEM = Actor.system("test")


@pytest.fixture
def live(ctx: Context, w: World, staff: Staff) -> Iterator[LiveServer]:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    ctx.clock = Clock()
    day = ctx.clock.today() + timedelta(days=2)  # open whatever the hour
    menus.set_rule(ctx, SYSTEM, w.canteens["A"], time(23, 59), "release")
    menus.set_menu(ctx, SYSTEM, w.canteens["A"], day, "lunch", ["D1", "D2", "D3"])
    menus.set_menu(ctx, SYSTEM, w.canteens["A"], day, "dinner", ["D2", "D3"])
    server = LiveServer(ctx).start()
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    with launch() as b:
        yield b


def checked(page: Any, problems: list[str]) -> None:
    text = page.evaluate(VISIBLE_TEXT_JS)
    problems += [f"{page.url}: word {x}" for x in foreign_words(text)]
    problems += [f"{page.url}: {x}" for x in sticking_out(page) + squeezed(page)]


def test_the_week_a_preorder_and_the_canteen_counts_in_a_browser(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    day = (ctx.clock.today() + timedelta(days=2)).isoformat()
    watch = Watch()
    problems: list[str] = []
    for size, viewport in (("390", PHONE), ("1366", DESKTOP)):
        page = watch.attach(browser.new_context(viewport=viewport, locale="zh-CN").new_page())
        sign_in(page, live.url, "Sa2")
        page.goto(f"{live.url}/me")
        page.click("#menu-link")
        page.goto(f"{live.url}/me/menu?canteen_id={w.canteens['A']}&week={day}")
        lunch = page.locator(f"#day-{day} form.menu-meal").first
        assert "红烧肉" in lunch.inner_text() and "520" in lunch.inner_text()
        checked(page, problems)
        shot(page, f"menus-week-{size}")
        if size == "390":
            lunch.locator("input.qty").first.fill("1")
            lunch.locator("button[type=submit]").click()
            page.wait_for_load_state()
            assert "预订成功" in page.inner_text("#menu-head")
            assert "12.00" in page.inner_text("#menu-held")
            assert "红烧肉×1" in page.inner_text("#my-preorders")
            checked(page, problems)
            shot(page, "menus-preordered-390")
        page.context.close()
        page = watch.attach(browser.new_context(viewport=viewport, locale="zh-CN").new_page())
        sign_in(page, live.url, "Scm")
        page.goto(f"{live.url}/till?canteen_id={w.canteens['A']}")
        page.click("#preorders-link")
        page.wait_for_load_state()
        page.click("text=返回收银台")
        page.click("#menu-admin-link")
        page.goto(f"{live.url}/till/menu?canteen_id={w.canteens['A']}&week={day}")
        assert "红烧肉" in page.inner_text(f"#day-{day}")
        checked(page, problems)
        shot(page, f"menus-admin-{size}")
        page.goto(f"{live.url}/till/preorders?canteen_id={w.canteens['A']}&day={day}")
        assert "红烧肉" in page.inner_text("#preorder-counts")
        page.fill("input[name=credential]", w.cards["a1"])
        page.click("#pickup-form button[type=submit]")
        page.wait_for_load_state()
        assert "未找到" in page.inner_text("#pickup-result")  # nothing to collect today
        checked(page, problems)
        shot(page, f"menus-till-{size}")
        page.context.close()
    assert not problems, "\n".join(problems)
    watch.check()
