"""A county bureau's dashboard in the browser (issue 17 §1): every chart drawn from its
subtree, the subsidy figures and the PDF link, at 390 px and 1366 px, zh-CN."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from onecard.core.clock import Clock
from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org.models import Person
from web.browser import DESKTOP, PHONE, LiveServer, Watch, fits, launch, shot, sign_in
from web.pages import _HASH, BUREAU_TOTP
from web.test_region_dashboard import DAY, Q, _county_world


def test_a_county_bureau_reads_its_dashboard_on_a_phone_and_a_desktop(ctx: Context) -> None:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    w, county, _town = _county_world(ctx)
    with ctx.db.begin() as conn:
        pid = b.create_person(conn, county, w.units["B"], "Skb", "县管理局")
        conn.execute(
            update(Person)
            .where(Person.id == pid)
            .values(password_hash=_HASH, must_change_password=False, totp_secret=BUREAU_TOTP)
        )
        b.grant_role(conn, pid, "bureau_admin", region_id=county)
    ctx.clock = Clock()  # the sign-in's codes and sessions: the real time
    server = LiveServer(ctx).start()
    try:
        with launch() as browser:
            for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                _look(browser, server.url, name, viewport)
    finally:
        server.stop()


def _look(browser: Any, base: str, name: str, viewport: dict[str, int]) -> None:
    watch = Watch()
    bctx = browser.new_context(viewport=viewport, locale="zh-CN")
    page = watch.attach(bctx.new_page())
    sign_in(page, base, "Skb", totp=True)
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
    watch.check()
    bctx.close()
