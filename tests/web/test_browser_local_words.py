"""The audit page and the run page in a real browser (issue 14 §3), on a phone (390 px)
and a desktop (1366 px), in Chinese and English: times in Beijing time (a run at 21:24
UTC on 29 November reads 2026-11-30 05:24), codes as words, quarters from a list, no
horizontal scroll, no console error. Screenshots go to tests/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from onecard.audit.records import record
from onecard.core.clock import Clock, FixedClock
from onecard.core.context import Context
from onecard.org.actors import Actor
from web.browser import CHROMIUM, CHROMIUM_ARGS, LiveServer, Watch, shot
from web.pages import Staff
from web.test_browser import sign_in
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def live(ctx: Context, w: World, staff: Staff) -> Iterator[LiveServer]:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    ctx.clock = FixedClock(datetime(2026, 11, 29, 21, 24, 7))
    with ctx.db.begin() as conn:
        record(conn, ctx, Actor.system("cli"), "distribute", "2026Q4", {"people": 1679})
        record(conn, ctx, Actor.system("cli"), "import_roster", "roster", {"rows": 1234})
    ctx.clock = Clock()  # sign-in codes follow real time
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


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), width


def test_audit_and_run_pages_read_in_local_time_and_words(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    sign_in(watch.attach(desk.new_page()), live.url, "Sbu", totp=True)
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", storage_state=desk.storage_state())
    for size, context in (("1366", desk), ("390", phone)):
        for lang in ("zh-CN", "en"):
            page = watch.attach(context.new_page())
            page.goto(f"{live.url}/bureau/audit?kind=money_run&lang={lang}")
            row = page.locator("#audit tr[data-action='distribute']").inner_text()
            assert "2026-11-30 05:24" in row and "11-29" not in row
            assert ("拨付" if lang == "zh-CN" else "Distribution") in row
            assert "distribute" not in row and "people" not in row and "1,679" in row
            _no_sideways_scroll(page)
            shot(page, f"local-audit-{lang}-{size}")

            page.goto(f"{live.url}/bureau/runs?quarter=2026Q4&lang={lang}")
            history = page.locator("#run-history").inner_text()
            assert "2026-11-30 05:24" in history and "11-29" not in history
            assert ("拨付" if lang == "zh-CN" else "Distribution") in history
            assert ("命令行" if lang == "zh-CN" else "Command line") in history
            assert page.locator("#quarter-select option").count() == 9
            assert page.locator("input[name=quarter]:not([type=hidden])").count() == 0
            _no_sideways_scroll(page)
            shot(page, f"local-runs-{lang}-{size}")
    watch.check()
