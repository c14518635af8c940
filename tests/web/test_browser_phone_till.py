"""Issue 14 §4 in a real browser: the diner's pages on a 390 px phone and a 1366 px desk,
and the till — which mode the next scan charges, the amount cleared once used, the
day's list with reversal, the sound, the shift report.

Every page is checked for horizontal scroll at its width (``scrollWidth`` no wider than
the window) and the whole journey for console errors, uncaught page errors and 5xx.
Screenshots (zh-CN) go to tests/screenshots/phone-till-*.png. The server runs on the
real clock (the phone makes its codes from the browser's clock), so the till charges by
amount, which works at any hour.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.ledger.service import Leg, account_id, post, system_account
from web.browser import CHROMIUM, DESKTOP, PHONE, LiveServer, Watch, fits, shot, sign_in
from web.conftest import Seed
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

DESK = DESKTOP


@pytest.fixture
def seed() -> Seed:
    return _history


def _history(ctx: Context, w: World) -> None:
    """b1's money this year: an allocation and a top-up before today's payment."""
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        pid = w.people["b1"]
        bank = system_account(conn, "bank_clearing")
        for days, kind, purse, fen, ref in (
            (20, "distribution", "subsidy", 18000, "就餐经费拨付 市人民医院"),
            (3, "topup", "cash", 5000, "充值 TU-1"),
        ):
            at = now - timedelta(days=days)
            post(
                conn,
                region_id=w.region,
                kind=kind,
                key=f"browser:{kind}",
                legs=[Leg(account_id(conn, "person", pid, purse), fen), Leg(bank, -fen)],
                actor="test",
                booked_at=at,
                business_day=to_local(at).date(),
                reference=ref,
                memo="3/3 个月" if kind == "distribution" else "",
            )


def test_the_diner_pages_and_the_till_on_a_phone_and_a_desk(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    base = live.url
    phone_ctx = browser.new_context(viewport=PHONE, locale="zh-CN")
    phone = watch.attach(phone_ctx.new_page())
    sign_in(phone, base, "Sb1")
    assert phone.url.endswith("/me")
    fits(phone)
    shot(phone, "phone-till-me-390")
    phone.goto(f"{base}/me/transactions")
    kinds = phone.eval_on_selector_all("#statement li.tx", "els => els.map(e => e.dataset.kind)")
    assert kinds[:2] == ["topup", "distribution"], kinds
    assert "经费拨付" in phone.inner_text("#statement")
    # A card per row: the canteen name is not squeezed into one character per line.
    fits(phone)
    shot(phone, "phone-till-transactions-390")
    phone.goto(f"{base}/me/code")
    phone.wait_for_selector("#paycode[data-ready='1']")
    fits(phone)
    shot(phone, "phone-till-code-390")
    code = phone.get_attribute("#paycode", "data-code")
    assert code and re.fullmatch(r"8[0-9]{17}", code)
    total_before = phone.inner_text("#balances [data-purse=total]")

    till_ctx = browser.new_context(viewport=DESK, locale="zh-CN")
    till = watch.attach(till_ctx.new_page())
    till.on("dialog", lambda d: d.accept())  # the reversal's confirmation
    sign_in(till, base, "Scm")
    assert till.url.endswith("/till")
    fits(till)
    # The banner says what the next scan charges; typing an amount turns it orange.
    till.fill("#amount", "8.50")
    banner = till.locator("#till-mode")
    assert "amount" in (banner.get_attribute("class") or "")
    assert "按金额收费：¥8.50" in banner.inner_text()
    shot(till, "phone-till-till-amount-1366")
    till.fill("#credential", code)
    till.press("#credential", "Enter")
    verdict = till.wait_for_selector("#till-verdict[data-result]")
    assert verdict.get_attribute("data-result") == "approved", verdict.inner_text()
    # The amount is used once: cleared, and the banner no longer says "amount".
    assert till.input_value("#amount") == ""
    assert "amount" not in (banner.get_attribute("class") or "")
    assert till.get_attribute("#till-form", "data-sounded") == "approved"
    rows = till.locator("#till-today li.till-row")
    assert rows.count() == 1 and "李娜" in rows.first.inner_text()
    shot(till, "phone-till-till-approved-1366")

    # The phone sees the payment and its balance follows, without reloading.
    phone.wait_for_selector("#paycode-paid.ok", timeout=15000)
    phone.wait_for_function(
        "before => document.querySelector('#balances [data-purse=total]').textContent !== before",
        arg=total_before,
        timeout=15000,
    )
    after = float(phone.inner_text("#balances [data-purse=total]"))
    assert round(float(total_before) - after, 2) == 8.50
    shot(phone, "phone-till-code-paid-390")

    # Reverse it from the day's list (not "the last one in this browser").
    till.click("#till-today button.reverse")
    till.wait_for_selector("#till-verdict[data-result='reversed']")
    assert till.locator("#till-today li.till-row.reversed").count() == 1
    assert till.locator("#till-today button.reverse").count() == 0
    phone.wait_for_selector("#paycode-paid[data-status='reversed']", timeout=15000)
    phone.wait_for_function(
        "before => document.querySelector('#balances [data-purse=total]').textContent === before",
        arg=total_before,
        timeout=15000,
    )
    # A refused scan: the same code twice.
    till.fill("#credential", code)
    till.press("#credential", "Enter")
    till.wait_for_selector("#till-verdict[data-result='refused']")
    assert till.get_attribute("#till-form", "data-sounded") == "refused"
    shot(till, "phone-till-till-refused-1366")

    till.click("#shift-report")
    till.wait_for_selector("#shift-totals")
    assert till.inner_text("#shift-count") == "0"  # the one payment was reversed
    fits(till)
    shot(till, "phone-till-report-1366")
    # Printed: no header, no form, no buttons — the figures only.
    till.emulate_media(media="print")
    assert not till.is_visible("header.top") and not till.is_visible("button[data-print]")
    assert till.is_visible("#shift-totals") and till.is_visible("#by-meal")
    shot(till, "phone-till-report-print")
    till.emulate_media(media="screen")

    # The same pages the other way round: the till on a phone, the diner on a desk.
    small_till = watch.attach(browser.new_context(viewport=PHONE, locale="zh-CN").new_page())
    sign_in(small_till, base, "Scm")
    fits(small_till)
    shot(small_till, "phone-till-till-390")
    small_till.goto(f"{base}/till/report")
    fits(small_till)
    shot(small_till, "phone-till-report-390")
    desk = watch.attach(browser.new_context(viewport=DESK, locale="zh-CN").new_page())
    sign_in(desk, base, "Sb1")
    for path, name in (("/me", "me"), ("/me/transactions", "transactions"), ("/me/code", "code")):
        desk.goto(f"{base}{path}")
        if path == "/me/code":
            desk.wait_for_selector("#paycode[data-ready='1']")
        fits(desk)
        shot(desk, f"phone-till-{name}-1366")
    phone.goto(f"{base}/me/transactions")
    assert phone.locator("#statement li.tx[data-kind='reversal']").count() == 1
    fits(phone)
    shot(phone, "phone-till-transactions-after-390")
    watch.check()
