"""The rollout pages in a real browser (Debian's chromium), at 390 px and 1366 px, in
Chinese: the bureau plans a new canteen's terminals, marks one installed (its key shown
once), accepts it, makes it live, is refused the canteen's go-live before an inspection,
records a passed inspection, makes the canteen live and urges a unit; the unit's admin
acknowledges on a phone; the directory lists the canteen. No console error, no 5xx, no
page wider than the screen; screenshots go to tests/screenshots/rollout-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from onecard.core.context import Context
from onecard.org import builders as b
from web.browser import CHROMIUM, LiveServer, Watch, shot, sign_in
from web.test_org_browser import WIDTHS, fits
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]


def test_a_canteen_from_plan_to_live_and_a_unit_acknowledges(
    ctx: Context,
    w: World,
    live: LiveServer,
    browser: Any,
) -> None:
    with ctx.db.begin() as conn:
        cid = b.create_canteen(
            conn,
            w.region,
            w.units["C"],
            "C009",
            "档案馆职工食堂",
            rollout_status="planned",
            windows=2,
            capacity=200,
            location="人民路 9 号",
        )
    watch = Watch(expect_statuses={409})
    bctx = browser.new_context(viewport=WIDTHS["1366"], locale="zh-CN")
    page = watch.attach(bctx.new_page())
    page.on("dialog", lambda d: d.accept())
    sign_in(page, live.url, "Sbu", totp=True)
    page.goto(f"{live.url}/bureau")
    page.click("nav.tabs a[href='/bureau/rollout']")
    page.wait_for_selector("#plan-table")
    page.click(f"#plan-table a[href='/bureau/rollout/canteens/{cid}']")
    page.click("#terminals form[action$='/plan'] button")
    page.wait_for_selector("#terminal-list td:has-text('C009-T02')")
    page.click("#terminal-list button[data-move='installed'] >> nth=0")
    key = page.wait_for_selector("#new-key code")
    assert len(key.inner_text()) >= 32
    shot(page, "rollout-key-shown-1366")
    page.click("#terminal-list button[data-move='accepted']")
    page.wait_for_selector("#terminal-list button[data-move='live']")
    page.click("#terminal-list button[data-move='live']")
    page.wait_for_selector("#go-live")
    assert "尚无通过的验收检查" in page.inner_text("#go-live")
    for box in page.query_selector_all("#inspection-form input[type=checkbox]"):
        box.check()
    page.fill("#inspection-form textarea[name=note]", "现场试刷 3 笔，全部成功")
    page.click("#inspection-form button[type=submit]")
    page.wait_for_selector("#inspection-list .badge.live")
    assert page.inner_text("#canteen-state") == "已验收检查"
    page.click("#go-live button[type=submit]")
    page.wait_for_selector("#canteen-state.live")
    canteen_url = page.url.split("?")[0].split("#")[0]

    page.goto(f"{live.url}/bureau/rollout#notices")
    page.select_option("#notices select[name=unit_id]", str(w.units["A"]))
    page.fill("#notices textarea[name=text]", "请于本周五前完成全部人员发卡")
    page.click("#notices button[type=submit]")
    page.wait_for_selector("#notice-list td:has-text('请于本周五前完成全部人员发卡')")
    for width, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        for name, url in (("overview", f"{live.url}/bureau/rollout"), ("canteen", canteen_url)):
            page.goto(url)
            fits(page)
            shot(page, f"rollout-{name}-{width}")
    page.goto(f"{live.url}/bureau/rollout?lang=en")
    assert "Supervision list" in page.inner_text("body")
    shot(page, "rollout-overview-en-1366")
    page.goto(f"{live.url}/bureau/rollout?lang=zh-CN")
    watch.check()
    bctx.close()

    phone = browser.new_context(viewport=WIDTHS["390"], locale="zh-CN")
    p = watch.attach(phone.new_page())
    sign_in(p, live.url, "Sua")
    p.goto(f"{live.url}/unit/{w.units['A']}")
    p.wait_for_selector("#rollout-notices")
    assert "请于本周五前完成全部人员发卡" in p.inner_text("#rollout-notices")
    fits(p)
    shot(p, "rollout-unit-notice-390")
    p.click("#rollout-notices button[type=submit]")
    p.wait_for_selector("#rollout-notices p.muted:has-text('已确认')")
    shot(p, "rollout-unit-acknowledged-390")
    p.goto(f"{live.url}/canteens")
    assert "档案馆职工食堂" in p.inner_text("body")
    watch.check()
    phone.close()
