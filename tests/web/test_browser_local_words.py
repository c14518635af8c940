"""The audit page and the run page in a real browser (issue 14 §3), on a phone (390 px)
and a desktop (1366 px), in Chinese and English: times in Beijing time (a run at 21:24
UTC on 29 November reads 2026-11-30 05:24), codes as words, quarters from a list, no
horizontal scroll, no console error. Screenshots go to tests/screenshots/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from onecard.audit.records import record
from onecard.core.clock import FixedClock
from onecard.core.context import Context
from onecard.org.actors import Actor
from web.browser import CHROMIUM, DESKTOP, PHONE, LiveServer, Watch, fits, shot, sign_in
from web.conftest import Seed
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]


def _runs_at_evening_utc(ctx: Context, w: World) -> None:
    clock = ctx.clock
    ctx.clock = FixedClock(datetime(2026, 11, 29, 21, 24, 7))
    with ctx.db.begin() as conn:
        record(conn, ctx, Actor.system("cli"), "distribute", "2026Q4", {"people": 1679})
        record(conn, ctx, Actor.system("cli"), "import_roster", "roster", {"rows": 1234})
    ctx.clock = clock  # sign-in codes follow real time


@pytest.fixture
def seed() -> Seed:
    return _runs_at_evening_utc


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
            fits(page)
            shot(page, f"local-audit-{lang}-{size}")

            page.goto(f"{live.url}/bureau/runs?quarter=2026Q4&lang={lang}")
            history = page.locator("#run-history").inner_text()
            assert "2026-11-30 05:24" in history and "11-29" not in history
            assert ("拨付" if lang == "zh-CN" else "Distribution") in history
            assert ("命令行" if lang == "zh-CN" else "Command line") in history
            assert page.locator("#quarter-select option").count() == 9
            assert page.locator("input[name=quarter]:not([type=hidden])").count() == 0
            fits(page)
            shot(page, f"local-runs-{lang}-{size}")
    watch.check()
