"""A county bureau's dashboard in the browser (issue 17 §1): every chart drawn from its
subtree, the subsidy figures and the PDF link, at 390 px and 1366 px, zh-CN."""

from __future__ import annotations

from typing import Any

import pytest

from onecard.core.clock import Clock
from onecard.core.context import Context
from web.browser import DESKTOP, PHONE, LiveServer, Watch, fits, launch, shot, sign_in
from web.pages import add_role_holder
from web.test_region_dashboard import DAY, Q, _county_world


def test_a_county_bureau_reads_its_dashboard_on_a_phone_and_a_desktop(ctx: Context) -> None:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    w, county, _town = _county_world(ctx)
    add_role_holder(ctx, county, w.units["B"], "Skb", "bureau_admin", "县管理局")
    ctx.clock = Clock()  # the sign-in's codes and sessions: the real time
    server = LiveServer(ctx).start()
    try:
        with launch() as browser:
            watch = Watch()
            bctx = browser.new_context(viewport=PHONE, locale="zh-CN")
            page = watch.attach(bctx.new_page())
            # One sign-in for both widths: a second one inside the same 30 s would offer
            # the authenticator's code again, which the server refuses as a replay.
            sign_in(page, server.url, "Skb", totp=True)
            for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                page.set_viewport_size(viewport)
                _look(page, server.url, name)
            watch.check()
            bctx.close()
    finally:
        server.stop()


def _look(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/bureau/dashboard?quarter={Q}&day={DAY}")
    for key in ("daily", "rush", "matrix", "revenue", "ratings"):
        page.wait_for_selector(f"#chart-{key}[data-ready]")
    assert page.locator("#chart-daily canvas").count() >= 1
    assert page.locator("#chart-rush canvas").count() >= 1
    heads = page.locator("#headline .figure").count()
    assert heads == 6
    assert "桂阳县" in page.locator("#region-select").inner_text()
    href = page.get_attribute("#quarter-report", "href") or ""
    assert href.startswith("/bureau/dashboard/report.pdf?quarter=2026Q1")
    fits(page)
    shot(page, f"region-dashboard-{name}")
