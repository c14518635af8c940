"""The canteen manager's e-CNY refunds in a real browser, in Chinese, on a phone (390 px)
and a desk (1366 px): from the till to its e-CNY page, part of a payment refunded and then
the rest, each refund seen on the page. Each page: no untranslated word, no sideways
scroll, no UTC time, no console error. Screenshots go to tests/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.core.context import Context
from onecard.pay import ecny
from onecard.pay import queries as pay_queries
from onecard.pay.service import PaymentRequest
from web.browser import CHROMIUM, DESKTOP, PHONE, LiveServer, Watch, fits, shot, sign_in
from web.conftest import Seed
from web.page_checks import VISIBLE_TEXT_JS, foreign_words, sticking_out, utc_marks
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]
WALLET = "W-browser-refund"
PAID_FEN = 12_345


def _payments(ctx: Context, w: World) -> None:
    """Two e-CNY payments at canteen A, one for each width."""
    s = SandboxEcny(b"test-secret", ctx.clock)
    s.open_wallet(WALLET, "钱七", 100_000)
    ctx.ecny = s
    for txn in ("br1", "br2"):
        req = PaymentRequest(txn_id=txn, credential=s.pay_code(WALLET), amount_fen=PAID_FEN)
        assert ecny.pay(ctx, w.terminals["A"], req).status == "succeeded"


@pytest.fixture
def seed() -> Seed:
    return _payments


def _checked(page: Any, problems: list[str]) -> None:
    fits(page)
    text = page.evaluate(VISIBLE_TEXT_JS)
    problems += [f"{page.url}: word {x}" for x in foreign_words(text)]
    problems += [f"{page.url}: utc {x}" for x in utc_marks(text)]
    problems += [f"{page.url}: {x}" for x in sticking_out(page)]


def test_the_manager_refunds_an_e_cny_payment_on_a_phone_and_a_desk(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    problems: list[str] = []
    bctx = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = watch.attach(bctx.new_page())
    sign_in(page, live.url, "Scm")  # once: the desk below is the same browser, wider
    # newest first: the phone refunds the newest, the desk the other
    orders = [str(r["order_no"]) for r in pay_queries.ecny_orders(ctx, "", w.canteens["A"])]
    for size, viewport, order in (("390", PHONE, orders[0]), ("1366", DESKTOP, orders[1])):
        page.set_viewport_size(viewport)
        page.goto(f"{live.url}/till?canteen_id={w.canteens['A']}")
        page.click("#ecny-payments-link")
        page.locator("#ecny-order-list").wait_for()
        _checked(page, problems)
        shot(page, f"till-ecny-refund-list-{size}")
        form = page.locator(f"li[data-order='{order}'] form.ecny-refund-form")
        form.locator("input[name=amount]").fill("23.45")
        form.locator("input[name=reason]").fill("菜凉了")
        form.locator("button[type=submit]").click()
        done = page.locator("#ecny-refund-done")
        done.wait_for()
        assert done.get_attribute("data-status") == "succeeded"
        assert "23.45" in done.inner_text() and "成功" in done.inner_text()
        row = page.locator(f"li[data-order='{order}'][data-status=succeeded] .ecny-refunded")
        assert "23.45" in row.inner_text()  # refunded so far
        refund = page.locator(f"li[data-order='{order}'] li.ecny-refund")
        assert "菜凉了" in refund.inner_text() and "成功" in refund.inner_text()
        # the rest: what is left, and then no form for it
        form = page.locator(f"li[data-order='{order}'] form.ecny-refund-form")
        assert "100.00" in page.locator(f"li[data-order='{order}'] .tx-bal").inner_text()
        form.locator("input[name=amount]").fill("100")
        form.locator("button[type=submit]").click()
        page.locator("#ecny-refund-done").wait_for()
        assert "100.00" in page.locator("#ecny-refund-done").inner_text()
        assert page.locator(f"li[data-order='{order}'] form.ecny-refund-form").count() == 0
        assert page.locator(f"li[data-order='{order}'] li.ecny-refund").count() == 2
        _checked(page, problems)
        shot(page, f"till-ecny-refund-done-{size}")
    bctx.close()
    for order in orders:
        assert ecny.order_row(ctx, order)["refunded_fen"] == PAID_FEN
    assert not problems, "\n".join(problems)
    watch.check()
