"""Issue 14 §1–2 in a real browser, zh-CN, on a 390 px phone and a 1366 px desk: the
unit admin's funding page (no sideways scroll on the phone, money in yuan, totals), and
the bureau's settlement preview for a quarter not yet ended (the calendar's reason, the
summary against last quarter, the override form). Screenshots go to tests/screenshots/
(unit-funding-390.png, unit-funding-1366.png, run-preview-390.png, run-preview-1366.png).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from onecard.core.clock import Clock, FixedClock, from_local, quarter_of
from onecard.core.context import Context
from onecard.funding import settlement
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from web.browser import CHROMIUM, LiveServer, Watch, fits, shot, sign_in
from web.pages import Staff
from web.test_unit_funding import unit_year
from world import World, fund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

WIDTHS = (390, 1366)


def serve(ctx: Context) -> LiveServer:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    ctx.clock = Clock()  # the browser signs in (TOTP) on the real clock
    return LiveServer(ctx).start()


def test_the_unit_admin_reads_the_funding_page(
    ctx: Context, w: World, staff: Staff, browser: Any
) -> None:
    unit_year(ctx, w)
    live = serve(ctx)
    try:
        for width in WIDTHS:
            watch = Watch()
            bctx = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
            page = watch.attach(bctx.new_page())
            sign_in(page, live.url, "Sua")
            page.goto(f"{live.url}/unit/{w.units['A']}")
            page.click(f"a[href='/unit/{w.units['A']}/funding']")
            page.select_option("#funding-year select[name=year]", "2026")
            page.click("#funding-year button[type=submit]")
            page.wait_for_selector("#funding-notices")
            text = page.inner_text("main")
            for shown in ("JF-U001-2026Q1", "2,400.00", "3,000.00", "多缴", "逾期", "2/3", "合计"):
                assert shown in text, shown
            if width == 390:
                fits(page)
            shot(page, f"unit-funding-{width}")
            with page.expect_download() as dl:
                page.click("#funding-xlsx")
            assert dl.value.suggested_filename.endswith(".xlsx")
            page.emulate_media(media="print")
            assert not page.is_visible("nav.tabs") and not page.is_visible("#funding-year")
            watch.check()
            bctx.close()
    finally:
        live.stop()


def test_the_bureau_previews_a_settlement_the_calendar_refuses(
    ctx: Context, w: World, staff: Staff, browser: Any
) -> None:
    # Last quarter settled (after it ended), this quarter under way.
    today = Clock().today()
    q = quarter_of(today)
    year_, n = int(q[:4]), int(q[5])
    last = f"{year_ - 1}Q4" if n == 1 else f"{year_}Q{n - 1}"
    assert isinstance(ctx.clock, FixedClock)
    fund(ctx, w, "b1", subsidy=100000)
    fund(ctx, w, "a1", subsidy=100000)
    start_last = datetime(int(last[:4]), 3 * (int(last[5]) - 1) + 2, 5, 12)
    ctx.clock.set(from_local(start_last))
    for i, who in enumerate(("b1", "a1", "b1")):
        req = PaymentRequest(f"l-{i}", w.cards[who], meal="lunch")
        assert pay(ctx, w.terminals["B"], req).approved
        ctx.clock.advance(days=1)
    ctx.clock.set(from_local(datetime(today.year, today.month, 1, 8)))
    settlement.settle_quarter(ctx, Actor.system("bureau"), last)
    live = serve(ctx)
    try:
        for i, who in enumerate(("b1", "b1", "a1", "a1")):
            req = PaymentRequest(f"now-{i}", w.cards[who], amount_fen=1250 + 100 * i)
            assert pay(ctx, w.terminals["B"], req).approved
        # One sign-in (a TOTP code is taken once), the page seen at both widths.
        watch = Watch()
        bctx = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, locale="zh-CN")
        page = watch.attach(bctx.new_page())
        sign_in(page, live.url, "Sbu", totp=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live.url}/bureau/runs?quarter={q}")
            page.click("form[action='/bureau/runs/settle'] button[type=submit]")
            page.wait_for_selector("#run-summary")
            text = page.inner_text("#run-outcome")
            assert "季度结束后才能结算" in text and last in text
            assert "基点" not in text and "%" in text
            assert page.is_visible("input[name=override]")
            if width == 390:
                fits(page)
            shot(page, f"run-preview-{width}")
            # The confirmation without the box ticked is not sent (both are required).
            page.click("#confirm-run button[type=submit]")
            assert not settlement.period_closed(ctx, q)
        watch.check()
        bctx.close()
    finally:
        live.stop()
