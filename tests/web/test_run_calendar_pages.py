"""The run page keeps the calendar (issue 14 §2): an early settlement's preview says
why the real run will be refused and offers an override that needs a ticked box and a
reason; the override is audited. The preview opens with its summary (this run against
the previous quarter), amounts in yuan and shares in %."""

from __future__ import annotations

import re
from datetime import datetime

from onecard.audit import records as audit
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.funding import settlement
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from web.pages import Staff, TestClient, sign_in
from world import World, fund

BUREAU = Actor.system("bureau")


def test_an_early_settlement_is_refused_on_the_page_and_overridden_with_a_reason(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    fund(ctx, w, "b1", subsidy=5000)
    assert pay(ctx, w.terminals["B"], PaymentRequest("p-1", w.cards["b1"], meal="lunch")).approved
    token, _ = sign_in(client, ctx, "Sbu")
    data = {"csrf_token": token, "quarter": "2026Q1"}
    preview = client.post("/bureau/runs/settle", data=data)
    assert preview.status_code == 200
    text = preview.text
    assert 'id="calendar-objection"' in text and "2026-04-01" in text
    assert 'name="override"' in text and 'name="override_reason"' in text
    assert 'id="run-summary"' in text and "食堂数" in text
    # Shares read as %, never basis points.
    assert "100.00%" in text and "基点" not in text and "10000" not in text

    refused = client.post("/bureau/runs/settle", data={**data, "confirm": "yes"})
    assert refused.status_code == 409 and "季度结束后才能结算" in refused.text
    assert not settlement.period_closed(ctx, "2026Q1")
    blank = client.post(
        "/bureau/runs/settle",
        data={**data, "confirm": "yes", "override": "yes", "override_reason": "  "},
    )
    assert blank.status_code == 422 and not settlement.period_closed(ctx, "2026Q1")
    done = client.post(
        "/bureau/runs/settle",
        data={
            **data,
            "confirm": "yes",
            "override": "yes",
            "override_reason": "财政年度审计提前关账",
        },
    )
    assert done.status_code == 200 and "已强制执行" in done.text
    assert settlement.period_closed(ctx, "2026Q1")
    [rec] = audit.records(ctx, "calendar_override")
    assert rec["actor"] != "" and rec["after"]["reason"] == "财政年度审计提前关账"
    assert rec["after"]["rule"] == "settlement_too_early"


def test_the_summary_compares_with_the_previous_quarter(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    fund(ctx, w, "b1", subsidy=50000)
    assert pay(ctx, w.terminals["B"], PaymentRequest("p-1", w.cards["b1"], meal="lunch")).approved
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 4, 1, 9)))
    settlement.settle_quarter(ctx, BUREAU, "2026Q1")
    ctx.clock.set(from_local(datetime(2026, 5, 6, 12)))
    for n in (2, 3):
        req = PaymentRequest(f"p-{n}", w.cards["b1"], meal="lunch")
        assert pay(ctx, w.terminals["B"], req).approved
        ctx.clock.advance(days=1)
    ctx.clock.set(from_local(datetime(2026, 7, 1, 9)))
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.post("/bureau/runs/settle", data={"csrf_token": token, "quarter": "2026Q2"})
    assert page.status_code == 200 and 'id="calendar-objection"' not in page.text
    summary = page.text.split('id="run-summary"')[1].split("</table>")[0]
    assert "上期" in summary
    assert "2026Q1" in summary
    gross = summary.split('data-key="gross_fen"')[1].split("</tr>")[0]
    # Q2 is two lunches, Q1 one: this run, the previous quarter and the difference, in yuan.
    now, before, diff = (c.strip() for c in re.findall(r'<td class="num">([^<]*)</td>', gross))
    assert float(now) == 2 * float(before) and diff == f"+{before}"
