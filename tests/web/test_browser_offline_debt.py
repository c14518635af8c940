"""In a browser: a unit admin sees the debt a till's late offline upload left (R-F3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from onecard.core.context import Context
from onecard.pay.service import PaymentRequest, pay
from onecard.terminals.simulator import SimTerminal, stepping_clock
from web.browser import LiveServer, Watch, shot, sign_in
from world import World


def test_a_unit_admin_sees_the_offline_debt_on_the_roster(
    ctx: Context,
    w: World,
    live: LiveServer,
    browser: Any,
) -> None:
    till = SimTerminal(
        live.url,
        w.terminals["A"].code,
        w.keys["A"],
        clock=stepping_clock(ctx.clock.now() + timedelta(seconds=5), timedelta(seconds=5)),
    )
    till.enrol()
    till.refresh()
    till.cut()
    assert till.sell(w.cards["a1"], amount_fen=2_000).result == "approved"
    paid = pay(ctx, w.terminals["B"], PaymentRequest("b-1", w.cards["a1"], amount_fen=60_000))
    assert paid.approved
    till.restore()
    [result] = till.upload()
    assert result["debt_fen"] == 1_000

    watch = Watch()
    bctx = browser.new_context(locale="zh-CN")
    page = watch.attach(bctx.new_page())
    sign_in(page, live.url, "Sua")
    page.goto(f"{live.url}/unit/{w.units['A']}")
    debts = page.locator("#offline-debts")
    assert debts.is_visible()
    assert "离线消费欠款" in debts.inner_text() and "张伟" in debts.inner_text()
    assert "10.00" in debts.locator("table").inner_text()
    shot(page, "unit-offline-debt")
    watch.check()
    bctx.close()
