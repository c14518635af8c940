"""The bureau's e-CNY reconciliation page: run a day, see the problems, export them."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.core.context import Context
from onecard.ledger.verify import verify
from onecard.pay import ecny
from onecard.pay.service import PaymentRequest
from web.pages import Staff, TestClient, sign_in
from world import World

WALLET = "W-recon"


def test_the_bureau_runs_the_days_reconciliation_and_exports_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = SandboxEcny(b"test-secret", ctx.clock)
    sbx.open_wallet(WALLET, "赵六", 10_000)
    ctx.ecny = sbx
    req = PaymentRequest(txn_id="r1", credential=sbx.pay_code(WALLET), meal="lunch")
    assert ecny.pay(ctx, w.terminals["A"], req).status == "succeeded"
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.get("/bureau/ecny")
    assert page.status_code == 200 and 'id="ecny-recon-form"' in page.text
    day = ctx.clock.today().isoformat()
    out = client.post("/bureau/ecny/reconcile", data={"csrf_token": token, "day": day})
    assert out.status_code == 200, out.text
    assert 'id="ecny-recon"' in out.text
    assert 'id="ecny-problems">0<' in out.text and "全部一致" in out.text
    # a payment the acquirer took under a number we never issued: acquirer_only
    sbx.micropay("ENOTOURS0001", sbx.pay_code(WALLET), 123, "x")
    out = client.post("/bureau/ecny/reconcile", data={"csrf_token": token, "day": day})
    assert 'id="ecny-problems">1<' in out.text
    assert 'data-status="acquirer_only"' in out.text and "ENOTOURS0001" in out.text
    assert "1.23" in out.text
    xlsx = client.post(
        "/bureau/ecny/reconcile", data={"csrf_token": token, "day": day, "fmt": "xlsx"}
    )
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.content)).active
    assert ws is not None and ws.cell(1, 1).value == "问题"
    assert ws.cell(2, 2).value == "ENOTOURS0001" and ws.cell(2, 4).value == 1.23
    future = client.post("/bureau/ecny/reconcile", data={"csrf_token": token, "day": "2999-01-01"})
    assert future.status_code == 422 and 'id="ecny-error"' in future.text


def test_a_unit_admin_cannot_open_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, "Sua")
    assert client.get("/bureau/ecny").status_code == 403


def test_the_orders_list_filters_and_refunds(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = SandboxEcny(b"test-secret", ctx.clock)
    sbx.open_wallet(WALLET, "赵六", 500_000)
    ctx.ecny = sbx
    req = PaymentRequest(txn_id="o1", credential=sbx.pay_code(WALLET), amount_fen=123_456)
    got = ecny.pay(ctx, w.terminals["A"], req)
    assert got.status == "succeeded"
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.get("/bureau/ecny").text
    orders = page[page.index('id="ecny-orders"') :]
    assert got.order_no in orders and "1,234.56" in orders and 'data-status="succeeded"' in orders
    assert 'class="inline ecny-refund-form"' in orders
    pending = client.get("/bureau/ecny", params={"os": "pending"}).text
    assert got.order_no not in pending[pending.index('id="ecny-orders"') :]
    assert client.get("/bureau/ecny", params={"os": "nonsense"}).status_code == 422
    form = {"csrf_token": token, "order_no": got.order_no, "refund_no": "R-page-1"}
    # more than was paid: refused on the page, nothing written
    too_much = client.post("/bureau/ecny/refund", data={**form, "amount": "2000"})
    assert too_much.status_code == 409 and 'id="ecny-refund-error"' in too_much.text
    assert ecny.order_row(ctx, got.order_no)["refunded_fen"] == 0
    done = client.post("/bureau/ecny/refund", data={**form, "amount": "4.56", "reason": "菜品问题"})
    assert done.status_code == 200, done.text
    assert 'id="ecny-refund-done"' in done.text and "4.56" in done.text
    assert ecny.order_row(ctx, got.order_no)["refunded_fen"] == 456
    # the same form pressed again does not refund twice
    client.post("/bureau/ecny/refund", data={**form, "amount": "4.56"})
    assert ecny.order_row(ctx, got.order_no)["refunded_fen"] == 456
    english = client.get("/bureau/ecny?lang=en").text
    assert "e-CNY payments" in english and "数字人民币交易" not in english


def test_finance_reads_the_orders_without_a_refund_form(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = SandboxEcny(b"test-secret", ctx.clock)
    sbx.open_wallet(WALLET, "赵六", 10_000)
    ctx.ecny = sbx
    req = PaymentRequest(txn_id="f1", credential=sbx.pay_code(WALLET), meal="lunch")
    assert ecny.pay(ctx, w.terminals["A"], req).status == "succeeded"
    sign_in(client, ctx, staff["fi"])
    page = client.get("/bureau/ecny").text
    assert 'id="ecny-order-table"' in page and "ecny-refund-form" not in page


def test_a_pending_order_and_a_pending_refund_are_asked_again(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    """再次查询 on the bureau's page: a payment whose answer was lost is asked about and
    booked once; an acquirer still down is said so and nothing changes; a refund left
    pending by the form is asked about from its own button."""
    sbx = SandboxEcny(b"test-secret", ctx.clock)
    sbx.open_wallet(WALLET, "赵六", 10_000)
    ctx.ecny = sbx
    sbx.behave(timeouts=1, down=1)  # the reply is lost, and so is the one query after it
    req = PaymentRequest(txn_id="q1", credential=sbx.pay_code(WALLET), amount_fen=350)
    got = ecny.pay(ctx, w.terminals["A"], req)
    assert got.status == "pending"
    token, _ = sign_in(client, ctx, "Sbu")
    page = client.get("/bureau/ecny", params={"os": "pending"}).text
    assert got.order_no in page and 'action="/bureau/ecny/check"' in page
    form = {"csrf_token": token, "order_no": got.order_no}
    # Still down: said so, the order stays pending, nothing booked.
    sbx.behave(down=1)
    down = client.post("/bureau/ecny/check", data=form)
    assert down.status_code == 200 and 'id="ecny-checked"' in down.text
    assert 'data-status="pending"' in down.text and "收单机构暂未应答" in down.text
    assert ecny.order_row(ctx, got.order_no)["status"] == "pending"
    # The acquirer answers: the money it took is booked, once.
    up = client.post("/bureau/ecny/check", data=form)
    assert 'id="ecny-checked" data-status="succeeded"' in up.text, up.text
    assert ecny.order_row(ctx, got.order_no)["status"] == "succeeded"
    client.post("/bureau/ecny/check", data=form)  # asked again: as it stands
    assert sbx.wallet_balance(WALLET) == 10_000 - 350
    # A refund the acquirer does not answer stays pending, with its own button.
    sbx.behave(down=1)
    refund = {"csrf_token": token, "order_no": got.order_no, "refund_no": "R-q1"}
    out = client.post("/bureau/ecny/refund", data={**refund, "amount": "1.50"}).text
    assert 'data-status="pending"' in out and 'id="ecny-refund-check"' in out, out
    again = client.post(
        "/bureau/ecny/refund/check", data={"csrf_token": token, "refund_no": "R-q1"}
    )
    assert 'id="ecny-refund-done"' in again.text and 'data-status="succeeded"' in again.text
    assert sbx.wallet_balance(WALLET) == 10_000 - 350 + 150
    missing = client.post("/bureau/ecny/check", data={**form, "order_no": "E-none"})
    assert missing.status_code == 404 and 'id="ecny-refund-error"' in missing.text
    client.cookies.set("lang", "en")
    sbx.behave(timeouts=1, down=1)
    late = ecny.pay(ctx, w.terminals["A"], PaymentRequest("q2", sbx.pay_code(WALLET), None, 100))
    sbx.behave(down=1)
    english = client.post("/bureau/ecny/check", data={**form, "order_no": late.order_no}).text
    assert "The acquirer has not answered yet" in english and "收单机构" not in english
    with ctx.db.read() as conn:
        assert verify(conn).ok
