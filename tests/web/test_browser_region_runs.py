"""Issue 17 §1 in a real browser, zh-CN, on a 390 px phone and a 1366 px desk: the
city's bureau chooses a county's fund region on /bureau/runs (the selector lists every
fund region), previews the county's distribution (its unit and figures, in yuan) and
sees the run history with its region column; nothing pushes the phone page sideways.
Screenshots: tests/screenshots/region-runs-{390,1366}.png and
region-runs-preview-{390,1366}.png."""

from __future__ import annotations

from typing import Any

import pytest

from onecard.core.clock import Clock
from onecard.core.context import Context
from web.browser import CHROMIUM, LiveServer, Watch, fits, shot, sign_in
from web.pages import Staff
from web.test_region_runs_pages import GUIYANG, YIZHANG, _counties
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]


def test_the_bureau_chooses_a_fund_region_on_the_runs_page(
    ctx: Context, w: World, staff: Staff, browser: Any
) -> None:
    if ctx.db.is_postgres:
        pytest.skip("browser journeys run on SQLite")
    ctx.clock = Clock()  # the browser signs in (TOTP) on the real clock
    _counties(ctx, w)
    live = LiveServer(ctx).start()
    try:
        watch = Watch()
        bctx = browser.new_context(viewport={"width": 390, "height": 900}, locale="zh-CN")
        page = watch.attach(bctx.new_page())
        sign_in(page, live.url, "Sbu", totp=True)
        for width in (390, 1366):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live.url}/bureau/runs")
            codes = page.eval_on_selector_all("#region-select option", "os => os.map(o => o.value)")
            assert codes == ["431000", GUIYANG, YIZHANG]
            page.select_option("#region-select", GUIYANG)
            page.select_option("#quarter-select", "2026Q1")
            page.click("form.quarter-pick button[type=submit]")
            page.wait_for_selector(f"#fund-region[data-code='{GUIYANG}']")
            assert "桂阳县" in page.inner_text("#fund-region")
            if width == 390:
                fits(page)
            shot(page, f"region-runs-{width}")
            page.click("#distribute-form button[type=submit]")
            page.wait_for_selector("#run-outcome")
            text = page.inner_text("#run-outcome")
            assert "桂阳县" in text and "桂阳县财政局" in text and "300.00" in text
            assert "市人民医院" not in text and "宜章县" not in text
            if width == 390:
                fits(page)
            shot(page, f"region-runs-preview-{width}")
        watch.check()
        bctx.close()
    finally:
        live.stop()
