"""The unit's roster flags its people's debts from late offline records (R-F3)."""

from __future__ import annotations

from onecard.core.context import Context
from onecard.pay.service import PaymentRequest, pay
from terminals.offline_kit import till
from web.pages import Staff, TestClient, sign_in
from world import World


def test_the_unit_page_flags_an_offline_debt(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sim = till(ctx, w, client)
    sim.cut()
    assert sim.sell(w.cards["a1"], amount_fen=2_000).result == "approved"
    # Meanwhile a1 spends almost everything online at the other canteen.
    assert pay(
        ctx, w.terminals["B"], PaymentRequest("b-1", w.cards["a1"], amount_fen=60_000)
    ).approved
    sim.restore()
    [result] = sim.upload()
    assert result["debt_fen"] == 1_000
    sign_in(client, ctx, staff["ua"])
    page = client.get(f"/unit/{w.units['A']}").text
    assert 'id="offline-debts"' in page and "离线消费欠款" in page
    section = page[page.index('id="offline-debts"') :]
    assert "Sa1" in section and "10.00" in section
    client.post("/logout")
    sign_in(client, ctx, staff["ub"])
    assert 'id="offline-debts"' not in client.get(f"/unit/{w.units['B']}").text
