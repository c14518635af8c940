"""Lost phones and the audit log in a real browser, on a phone (390 px) and a desktop
(1366 px), in Chinese.

A diner's phone shows a payment code; the diner reports the phone lost from a computer;
the till then refuses the code the lost phone shows (``code_revoked``). The bureau opens
the audit log, filters it and downloads it as Excel. Screenshots go to tests/screenshots/.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from onecard.core.context import Context
from web.browser import CHROMIUM, DESKTOP, PHONE, LiveServer, Watch, shot, sign_in
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]


def test_a_lost_phone_stops_its_codes_at_the_till(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    # The phone's code page polls the server: once its session is ended, a poll is
    # answered 401 (which the browser logs) and the page goes to the sign-in form.
    phone_watch = Watch(expect_statuses={401})
    phone = phone_watch.attach(browser.new_context(viewport=PHONE, locale="zh-CN").new_page())
    sign_in(phone, live.url, "Sb1")
    phone.goto(f"{live.url}/me/code")
    phone.wait_for_selector("#paycode[data-ready='1']")
    old_code = phone.get_attribute("#paycode", "data-code")
    assert old_code

    desk = watch.attach(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
    sign_in(desk, live.url, "Sb1")
    assert desk.url.endswith("/me")
    shot(desk, "diner-home-1366")
    desk.click("#phone summary")  # 挂失手机: opens the confirmation
    desk.click("#phone-lost")
    # Every session of the person ended, this one too: the sign-in page says so.
    desk.wait_for_url("**/login?ended=1")
    assert "已退出所有设备上的登录" in desk.inner_text("main")
    shot(desk, "diner-phone-lost-1366")

    # The phone's session ended as well: its code page notices by itself, forgets the
    # secret it made codes from and asks for a sign-in that comes back to the code.
    phone.wait_for_url("**/login?next=%2Fme%2Fcode", timeout=15000)
    assert phone.evaluate("() => Object.keys(localStorage)") == []
    phone.goto(f"{live.url}/me")
    assert "/login" in phone.url
    shot(phone, "diner-phone-lost-390")

    till = watch.attach(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
    sign_in(till, live.url, "Scm")
    till.fill("#amount", "3.00")
    till.fill("#credential", old_code)
    till.press("#credential", "Enter")
    verdict = till.wait_for_selector("#till-verdict[data-result='refused']")
    assert "付款码已失效" in verdict.inner_text()
    shot(till, "till-code-revoked")
    watch.check()
    phone_watch.check()


def test_the_bureau_reads_filters_and_exports_the_audit_log(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    admin = watch.attach(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
    sign_in(admin, live.url, "Sua")
    admin.goto(f"{live.url}/unit/{w.units['A']}/people/{w.people['a1']}")
    admin.click("#person-cards button:has-text('挂失')")
    admin.wait_for_selector("#person-message")
    shot(admin, "unit-person-1366")

    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    sign_in(watch.attach(desk.new_page()), live.url, "Sbu", totp=True)
    # The phone carries the same session (an authenticator code signs in only once).
    phone = browser.new_context(viewport=PHONE, locale="zh-CN", storage_state=desk.storage_state())
    for name, context in (("1366", desk), ("390", phone)):
        page = watch.attach(context.new_page())
        page.goto(f"{live.url}/bureau/audit")
        rows = page.locator("#audit tr[data-seq]")
        assert rows.count() >= 1
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", rows.first.inner_text())
        shot(page, f"bureau-audit-{name}")
        if name == "1366":
            page.fill("input[name=person]", "Sa1")
            page.select_option("select[name=kind]", "card")
            page.click("#audit-filters button[type=submit]")
            page.wait_for_url(re.compile(r"person=Sa1"))
            assert page.locator("#audit tr[data-action='card_lost']").count() == 1
            with page.expect_download() as download:
                page.click("#audit-export")
            data = Path(download.value.path()).read_bytes()
            ws = load_workbook(io.BytesIO(data)).worksheets[0]
            assert ws.max_row == 2 and ws.cell(2, 6).value == "挂失"
    watch.check()
