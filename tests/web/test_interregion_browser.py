"""Cross-region dining in a real browser (Debian's chromium), in Chinese: the county's
bureau (held for the county, which keeps its own fund) proposes an agreement at 1366 px,
the city's bureau accepts it on a phone (390 px), a county lunch at the city's canteen,
the county makes the quarter's statement, both sides confirm, the county books it and
the bank order shows. No console error, no 5xx, no page wider than the screen;
screenshots go to tests/screenshots/interregion-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from onecard.channels.bank import EXPENDITURE_ACCOUNT
from onecard.channels.sandbox import SandboxBank
from onecard.core.context import Context
from onecard.ledger.service import Leg, account_id, open_system_accounts, post, system_account
from onecard.org import builders as b
from onecard.org.models import Person, Region
from onecard.pay.cards import issue_card_conn
from onecard.pay.decide import PaymentRequest
from onecard.pay.service import pay
from web.browser import CHROMIUM, LiveServer, Watch, fits, shot, sign_in
from web.pages import BUREAU_TOTP
from web.test_org_browser import WIDTHS
from world import World

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make browser-deps)"),
]

HOST_ACCOUNT = "62270000000000000088"
COUNTY: dict[str, Any] = {}


@pytest.fixture
def seed() -> Any:
    def county(ctx: Context, w: World) -> None:
        """桂阳县 keeping its own fund: a unit, a canteen, one funded person with a card,
        and its bureau (held for the county); the banks hold money."""
        with ctx.db.begin() as conn:
            rid = b.create_region(conn, "431021", "桂阳县", "county", w.region)
            conn.execute(update(Region).where(Region.id == rid).values(own_fund=True))
            open_system_accounts(conn, rid, top=False)
            unit = b.create_unit(conn, rid, "K001", "县财政局")
            b.create_canteen(conn, rid, unit, "K-C1", "县机关食堂", operation="self")
            pid = b.create_person(conn, rid, unit, "Sk1", "赵县一")
            card = issue_card_conn(conn, ctx, pid)
            bank = system_account(conn, "bank_clearing", rid)
            for kind, amt in (("subsidy", 700), ("cash", 2000)):
                post(
                    conn,
                    region_id=rid,
                    kind="test_fund",
                    key=f"fund:k1:{kind}",
                    legs=[Leg(bank, -amt), Leg(account_id(conn, "person", pid, kind), amt)],
                    actor="test",
                    booked_at=ctx.clock.now(),
                )
            kb = b.create_person(conn, rid, unit, "Skb", "县管理局")
            b.grant_role(conn, kb, "bureau_admin", region_id=rid)
            hashed = conn.execute(
                select(Person.password_hash).where(Person.staff_no == "Sbu")
            ).scalar_one()
            conn.execute(
                update(Person)
                .where(Person.id == kb)
                .values(password_hash=hashed, must_change_password=False, totp_secret=BUREAU_TOTP)
            )
        sandbox = ctx.bank
        assert isinstance(sandbox, SandboxBank)
        sandbox.open_outside_account("99991111", "县财政", 100_000)
        sandbox.credit_from_outside("99991111", EXPENDITURE_ACCOUNT, 100_000, "县就餐资金")
        sandbox.open_outside_account(HOST_ACCOUNT, "郴州市机关事务管理局")
        COUNTY.update(region=rid, card=card)

    return county


def test_two_bureaus_agree_clear_and_book_in_the_browser(
    ctx: Context, w: World, live: LiveServer, browser: Any
) -> None:
    watch = Watch()
    desk = browser.new_context(viewport=WIDTHS["1366"], locale="zh-CN")
    kb = watch.attach(desk.new_page())
    kb.on("dialog", lambda d: d.accept())
    sign_in(kb, live.url, "Skb", totp=True)
    kb.goto(f"{live.url}/bureau/org")
    kb.click("nav.tabs a[href='/bureau/interregion']")
    kb.click("#propose summary")
    kb.wait_for_selector("#propose-form")
    form = "#propose-form"
    kb.select_option(f"{form} select[name=side]", "home")
    kb.select_option(f"{form} select[name=other_region_id]", str(w.region))
    kb.fill(f"{form} input[name=unit_codes]", "K001")
    kb.select_option(f"{form} select[name=price_class]", "visitor")
    kb.select_option(f"{form} select[name=purse]", "subsidy_first")
    kb.fill(f"{form} input[name=host_account_no]", HOST_ACCOUNT)
    kb.fill(f"{form} input[name=host_account_name]", "郴州市机关事务管理局")
    kb.click(f"{form} button[type=submit]")
    kb.wait_for_selector("#ir-message")
    assert "协议已提出" in kb.inner_text("#ir-message")
    assert "县财政局" in kb.inner_text("#agreement-table .units")
    assert "待对方确认" in kb.inner_text("#agreement-table")
    assert kb.query_selector("#agreement-table button[data-act='accept']") is None
    shot(kb, "interregion-proposed-1366")

    phone_ctx = browser.new_context(viewport=WIDTHS["390"], locale="zh-CN")
    bu = watch.attach(phone_ctx.new_page())
    bu.on("dialog", lambda d: d.accept())
    sign_in(bu, live.url, "Sbu", totp=True)
    bu.goto(f"{live.url}/bureau/interregion")
    fits(bu)
    shot(bu, "interregion-to-accept-390")
    bu.click("#agreement-table button[data-act='accept']")
    bu.wait_for_selector("#ir-message")
    assert "协议已确认生效" in bu.inner_text("#ir-message")
    assert "生效" in bu.inner_text("#agreement-table")

    # A county lunch at the city's canteen, under the agreement.
    got = pay(
        ctx, w.terminals["A"], PaymentRequest("ir-browser-1", COUNTY["card"], amount_fen=1200)
    )
    assert got.data.get("amount_fen") == 1200, got.data

    kb.goto(f"{live.url}/bureau/interregion")
    kb.select_option("#statement-form select[name=pair]", f"{COUNTY['region']}-{w.region}")
    kb.click("#statement-form button[type=submit]")
    kb.wait_for_selector("#ir-message")
    assert "12.00" in kb.inner_text("#statement-table")
    kb.click("#statement-table button[data-act='confirm'][data-side='home']")
    kb.wait_for_selector("#ir-message:has-text('本方已确认')")
    assert kb.query_selector("#statement-table button[data-act='confirm']") is None

    bu.goto(f"{live.url}/bureau/interregion#statements")
    bu.click("#statement-table button[data-act='confirm'][data-side='host']")
    bu.wait_for_selector("#ir-message:has-text('双方已确认')")
    fits(bu)
    shot(bu, "interregion-confirmed-390")

    kb.goto(f"{live.url}/bureau/interregion")
    kb.click("#statement-table button[data-act='book']")
    kb.wait_for_selector("#ir-message:has-text('已记账')")
    payout = kb.inner_text("#statement-table .payout")
    assert payout.startswith("IR") and "待银行回执" in payout, payout
    assert "已记账，待银行付款" in kb.inner_text("#statement-table")
    for width, viewport in WIDTHS.items():
        for who, page in (("county", kb), ("city", bu)):
            page.set_viewport_size(viewport)
            page.goto(f"{live.url}/bureau/interregion")
            fits(page)
            shot(page, f"interregion-{who}-booked-{width}")
    kb.goto(f"{live.url}/bureau/interregion?lang=en")
    assert "Bank payout" in kb.inner_text("body")
    shot(kb, "interregion-booked-en-1366")
    kb.goto(f"{live.url}/bureau/interregion?lang=zh-CN")
    watch.check()
    desk.close()
    phone_ctx.close()
