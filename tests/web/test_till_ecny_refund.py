"""The canteen manager's e-CNY page (/till/ecny/payments): the canteen's own e-CNY payments
and their refunds — part, then the rest; more than is left refused with nothing written;
another canteen's payment refused; the same form sent twice refunds once; a refund the
acquirer has not answered shows pending and is asked about again. Every story ends with
``ledger verify``."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from onecard.audit.models import AuditEvent
from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.core.context import Context
from onecard.ledger.service import account_id, derived_balance
from onecard.ledger.verify import verify
from onecard.pay import ecny
from onecard.pay.models import EcnyRefund
from onecard.pay.service import PaymentRequest
from web.pages import Staff, TestClient, sign_in
from world import World

WALLET = "W-till-refund"
PAGE = "/till/ecny/payments"


def _sbx(ctx: Context) -> SandboxEcny:
    s = SandboxEcny(b"test-secret", ctx.clock)
    s.open_wallet(WALLET, "钱七", 500_000)
    ctx.ecny = s
    return s


def _paid(ctx: Context, w: World, sbx: SandboxEcny, txn: str, fen: int, canteen: str = "A") -> str:
    req = PaymentRequest(txn_id=txn, credential=sbx.pay_code(WALLET), amount_fen=fen)
    got = ecny.pay(ctx, w.terminals[canteen], req)
    assert got.status == "succeeded"
    return got.order_no


def _form(page: str, order_no: str) -> dict[str, str]:
    """The hidden fields of the refund form drawn for ``order_no``."""
    start = page.index('class="controls ecny-refund-form"', page.index(f'data-order="{order_no}"'))
    form = page[start : page.index("</form>", start)]
    assert f'name="order_no" value="{order_no}"' in form
    fields = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', form))
    assert form.count('name="request_id"') == 1 and fields["request_id"]
    return fields


def _state(ctx: Context, w: World) -> tuple[int, int, int]:
    with ctx.db.read() as conn:
        payable = derived_balance(
            conn, account_id(conn, "canteen", w.canteens["A"], "canteen_payable")
        )
        refunds = conn.execute(select(func.count()).select_from(EcnyRefund)).scalar_one()
        audited = conn.execute(
            select(func.count()).where(AuditEvent.action == "ecny_refund")
        ).scalar_one()
    return payable, int(refunds), int(audited)


def _verified(ctx: Context) -> None:
    with ctx.db.engine.connect() as conn:
        report = verify(conn)
    assert report.ok, report.problems[:5]


def test_a_manager_refunds_part_then_the_rest_and_a_resent_form_refunds_once(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = _sbx(ctx)
    order = _paid(ctx, w, sbx, "tr1", 123_456)
    sign_in(client, ctx, staff["cm"])
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    assert order in page.text and "1,234.56" in page.text and 'data-status="succeeded"' in page.text
    assert "ecny-refund-form" in page.text
    form = _form(page.text, order)
    assert form["canteen_id"] == str(w.canteens["A"])
    wallet = sbx.wallet_balance(WALLET)
    part = client.post("/till/ecny/refund", data={**form, "amount": "234.56", "reason": "少打菜"})
    assert part.status_code == 200, part.text
    assert 'id="ecny-refund-done" data-status="succeeded"' in part.text and "234.56" in part.text
    assert ecny.order_row(ctx, order)["refunded_fen"] == 23_456
    assert sbx.wallet_balance(WALLET) == wallet + 23_456
    assert _state(ctx, w) == (123_456 - 23_456, 1, 1)
    # the same form sent again (a double press, a browser's resend): refunded once
    again = client.post("/till/ecny/refund", data={**form, "amount": "234.56", "reason": "少打菜"})
    assert again.status_code == 200 and ecny.order_row(ctx, order)["refunded_fen"] == 23_456
    assert _state(ctx, w) == (100_000, 1, 1) and sbx.wallet_balance(WALLET) == wallet + 23_456
    # the page now shows what was refunded and offers the rest, with a fresh refund number
    rest_form = _form(part.text, order)
    assert rest_form["request_id"] != form["request_id"]
    assert (
        'class="ecny-refund" data-status="succeeded"' in part.text and "可退 ¥1,000.00" in part.text
    )
    rest = client.post("/till/ecny/refund", data={**rest_form, "amount": "1000"})
    assert rest.status_code == 200, rest.text
    assert ecny.order_row(ctx, order)["refunded_fen"] == 123_456
    assert _state(ctx, w) == (0, 2, 2) and sbx.wallet_balance(WALLET) == wallet + 123_456
    # nothing left: no form for it any more
    assert f'name="order_no" value="{order}"' not in rest.text.split('id="ecny-order-list"')[1]
    _verified(ctx)


def test_more_than_is_left_a_bad_amount_and_a_failed_payment_are_refused_with_nothing_written(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = _sbx(ctx)
    order = _paid(ctx, w, sbx, "tr2", 800)
    sign_in(client, ctx, staff["cm"])
    form = _form(client.get(PAGE).text, order)
    before = _state(ctx, w)
    too_much = client.post("/till/ecny/refund", data={**form, "amount": "8.01"})
    assert too_much.status_code == 409 and 'id="ecny-refund-error"' in too_much.text
    assert "最多还可退 8.00 元" in too_much.text
    for bad in ("0", "-1", "abc", "1.234"):
        r = client.post("/till/ecny/refund", data={**form, "amount": bad})
        assert r.status_code == 422 and 'id="ecny-refund-error"' in r.text, bad
    missing = client.post("/till/ecny/refund", data={**form, "order_no": "ENOSUCH", "amount": "1"})
    assert missing.status_code == 404 and 'id="ecny-refund-error"' in missing.text
    assert _state(ctx, w) == before and ecny.order_row(ctx, order)["refunded_fen"] == 0
    # a payment still pending is listed without a form, and cannot be refunded (409)
    sbx.behave(timeouts=1, down=1)
    req = PaymentRequest(txn_id="tr2p", credential=sbx.pay_code(WALLET), amount_fen=200)
    pending = ecny.pay(ctx, w.terminals["A"], req).order_no
    listed = client.get(PAGE, params={"os": "pending"}).text
    assert pending in listed and "ecny-refund-form" not in listed
    early = client.post("/till/ecny/refund", data={**form, "order_no": pending, "amount": "1"})
    assert early.status_code == 409 and "只有成功的交易可以退款" in early.text
    # in the page's language (the session's, once chosen)
    english = client.post("/till/ecny/refund?lang=en", data={**form, "amount": "9"})
    assert english.status_code == 409 and "at most 8.00 yuan" in english.text
    assert "退款超过" not in english.text
    assert _state(ctx, w) == before
    _verified(ctx)


def test_another_canteens_payment_is_refused_with_nothing_written(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = _sbx(ctx)
    mine = _paid(ctx, w, sbx, "tr3", 500)
    theirs = _paid(ctx, w, sbx, "tr4", 700, canteen="B")
    token, _ = sign_in(client, ctx, staff["cm"])
    page = client.get(PAGE).text
    assert mine in page and theirs not in page  # the canteen's own payments only
    assert client.get(PAGE, params={"canteen_id": w.canteens["B"]}).status_code == 403
    form = {**_form(page, mine), "order_no": theirs, "amount": "1"}
    before = _state(ctx, w)
    refused = client.post("/till/ecny/refund", data=form)
    assert refused.status_code == 403 and 'id="ecny-refund-error"' in refused.text
    as_b = client.post("/till/ecny/refund", data={**form, "canteen_id": str(w.canteens["B"])})
    assert as_b.status_code == 403
    assert _state(ctx, w) == before and ecny.order_row(ctx, theirs)["refunded_fen"] == 0
    assert (
        client.post(
            "/till/ecny/refund/check",
            data={"csrf_token": token, "canteen_id": w.canteens["A"], "refund_no": "R-none"},
        ).status_code
        == 404
    )
    _verified(ctx)


def test_a_pending_refund_shows_pending_and_is_asked_about_again(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = _sbx(ctx)
    order = _paid(ctx, w, sbx, "tr5", 1_000)
    sign_in(client, ctx, staff["cm"])
    page = client.get(PAGE, params={"os": "succeeded"}).text
    form = _form(page, order)
    sbx.behave(down=1)  # the acquirer does not answer the refund
    wallet = sbx.wallet_balance(WALLET)
    out = client.post("/till/ecny/refund", data={**form, "amount": "4"})
    assert out.status_code == 200, out.text
    assert 'id="ecny-refund-done" data-status="pending"' in out.text
    assert 'id="ecny-refund-check"' in out.text and "再次查询" in out.text
    assert ecny.order_row(ctx, order)["refunded_fen"] == 400  # reserved while pending
    assert client.get(PAGE, params={"os": "pending"}).text.count('data-order="') == 0
    listed = client.get(PAGE).text
    assert 'class="ecny-refund" data-status="pending"' in listed
    assert 'action="/till/ecny/refund/check"' in listed
    checked = client.post(
        "/till/ecny/refund/check",
        data={
            "csrf_token": form["csrf_token"],
            "canteen_id": form["canteen_id"],
            "refund_no": form["request_id"],
            "order_no": order,
        },
    )
    assert checked.status_code == 200, checked.text
    assert 'id="ecny-refund-done" data-status="succeeded"' in checked.text
    assert sbx.wallet_balance(WALLET) == wallet + 400
    assert _state(ctx, w) == (600, 1, 1)
    _verified(ctx)


def test_the_page_in_english_and_a_unit_admin_of_the_owner(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = _sbx(ctx)
    order = _paid(ctx, w, sbx, "tr6", 300)
    sign_in(client, ctx, staff["ua"])  # the owning unit's admin runs canteen A too
    page = client.get(PAGE, params={"lang": "en"}).text
    assert order in page and "e-CNY payments" in page and "数字人民币收款" not in page
    assert client.get(PAGE, params={"os": "nonsense"}).status_code == 422
