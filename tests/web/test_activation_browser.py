"""Getting people in, in a real browser (Debian's chromium) at a phone's 390 px and a
desk's 1366 px, in Chinese: the unit admin issues a code from the roster and prints the
sheet of codes, a newcomer activates at /activate (a wrong code first), a person with a
temporary password is held on the change-password page until they change it. No
console error, no 5xx, no page wider than the screen; screenshots go to
tests/screenshots/account-*.png."""

from __future__ import annotations

import re
from typing import Any

import pytest

from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.web import account_activation as activation
from web.browser import CHROMIUM, LiveServer, Watch, shot, sign_in
from web.test_org_browser import WIDTHS, fits
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]


@pytest.mark.parametrize("width", ["390", "1366"])
def test_a_newcomer_gets_a_code_and_activates(
    ctx: Context,
    w: World,
    live: LiveServer,
    browser: Any,
    width: str,
) -> None:
    with ctx.db.begin() as conn:
        first = b.create_person(conn, w.region, w.units["A"], f"N{width}1", "新同事甲")
        b.create_person(conn, w.region, w.units["A"], f"N{width}2", "新同事乙")
    a = w.units["A"]
    watch = Watch(expect_statuses={401})
    admin_ctx = browser.new_context(viewport=WIDTHS[width], locale="zh-CN")
    page = watch.attach(admin_ctx.new_page())
    sign_in(page, live.url, "Sua")
    page.goto(f"{live.url}/unit/{a}")
    assert page.locator(f"#print-codes-{a}").is_visible()
    fits(page)
    shot(page, f"account-roster-{width}")
    page.click(f"form[action='/unit/{a}/people/{first}/activation-code'] button")
    page.wait_for_selector("#activation-code")
    code = page.inner_text("#activation-code").strip()
    assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", code)
    fits(page)
    shot(page, f"account-code-slip-{width}")
    page.goto(f"{live.url}/unit/{a}")
    page.click(f"#print-codes-{a} button")
    page.wait_for_selector("#activation-sheet")
    assert page.locator("#activation-sheet .slip").count() == 1  # the other one has a code
    fits(page)
    shot(page, f"account-code-sheet-{width}")
    admin_ctx.close()

    newcomer_ctx = browser.new_context(viewport=WIDTHS[width], locale="zh-CN")
    page = watch.attach(newcomer_ctx.new_page())
    page.goto(f"{live.url}/login")
    assert "忘记密码？请联系本单位管理员" in page.inner_text("main")
    page.click("#activate-link")
    page.wait_for_selector("#activate-form")
    fits(page)
    shot(page, f"account-activate-{width}")
    page.fill("input[name=login]", f"N{width}1")
    page.fill("input[name=code]", "WRONG-CODE2")
    page.fill("input[name=new]", "Lunch2026ok")
    page.fill("input[name=confirm]", "Lunch2026ok")
    page.click("#activate-form button[type=submit]")
    page.wait_for_selector("#activate-error")
    assert "激活码错误" in page.inner_text("#activate-error")
    fits(page)
    shot(page, f"account-activate-error-{width}")
    page.fill("input[name=code]", code.lower())
    page.fill("input[name=new]", "Lunch2026ok")
    page.fill("input[name=confirm]", "Lunch2026ok")
    page.click("#activate-form button[type=submit]")
    page.wait_for_url(re.compile(r"/me$"))
    assert "新同事甲" in page.inner_text("main")
    newcomer_ctx.close()
    watch.check()


@pytest.mark.parametrize("width", ["390", "1366"])
def test_a_temporary_password_holds_every_page_until_changed(
    ctx: Context,
    w: World,
    live: LiveServer,
    browser: Any,
    width: str,
) -> None:
    temp = activation.set_temporary_password(ctx, Actor.system("t"), w.people["a2"])
    watch = Watch()
    bctx = browser.new_context(viewport=WIDTHS[width], locale="zh-CN")
    page = watch.attach(bctx.new_page())
    page.goto(f"{live.url}/login")
    page.fill("input[name=staff_no]", "Sa2")
    page.fill("input[name=password]", temp)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/login/password$"))
    assert "首次登录请修改密码" in page.inner_text("main")
    fits(page)
    shot(page, f"account-forced-change-{width}")
    page.goto(f"{live.url}/me")
    assert page.url.endswith("/login/password")
    page.fill("input[name=current]", temp)
    page.fill("input[name=new]", "Lunch2026ok")
    page.fill("input[name=confirm]", "Lunch2026ok")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/me$"))
    bctx.close()
    watch.check()
