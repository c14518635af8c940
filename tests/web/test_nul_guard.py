"""A NUL character in any text is a clear 422 with nothing written, on both databases.

PostgreSQL's text cannot hold NUL; before ``web.nul_guard`` such a request was a 500 on
PostgreSQL (found by the API fuzz: a ``txn_id`` and a refund's ``request_id``)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.pay.models import Payment, Refund
from web.pages import Staff, TestClient, sign_in
from world import World

PAY = "/api/v1/terminal/payments"


def _terminal(w: World) -> dict[str, str]:
    return {"Authorization": f"Terminal T-A1:{w.keys['A']}"}


def _count(ctx: Context, model: type) -> int:
    with ctx.db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_payment_whose_txn_id_holds_a_nul_is_refused_and_not_recorded(
    ctx: Context, w: World, client: TestClient
) -> None:
    before = _count(ctx, Payment)
    body = {"txn_id": "a\x00b", "credential": w.cards["a1"], "amount_fen": 100}
    r = client.post(PAY, json=body, headers=_terminal(w))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_input"
    assert _count(ctx, Payment) == before


def test_a_control_character_in_a_key_is_refused_by_the_schema(
    ctx: Context, w: World, client: TestClient
) -> None:
    body = {"txn_id": "a\tb", "credential": w.cards["a1"], "amount_fen": 100}
    r = client.post(PAY, json=body, headers=_terminal(w))
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "txn_id"


def test_a_refund_with_a_nul_in_its_key_or_reason_writes_nothing(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    paid = client.post(
        PAY,
        json={"txn_id": "n1", "credential": w.cards["a1"], "amount_fen": 800},
        headers=_terminal(w),
    ).json()
    sign_in(client, ctx, staff["cm"])
    url = f"/api/v1/payments/{paid['payment_id']}/refunds"
    for refund in (
        {"request_id": "\x00rf", "amount_fen": 300},
        {"request_id": "rf-2", "amount_fen": 300, "reason": "菜凉了\x00"},
    ):
        r = client.post(url, json=refund)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid_input" and err["request_id"]
    assert _count(ctx, Refund) == 0
    # A backslash followed by "u0000" is text like any other, not a NUL.
    text = {"request_id": "rf-3", "amount_fen": 300, "reason": "\\u0000"}
    r = client.post(url, content=json.dumps(text), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert _count(ctx, Refund) == 1


def test_a_nul_in_a_query_string_or_a_form_is_refused(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    token, _ = sign_in(client, ctx, staff["bu"])
    api = client.get(f"/api/v1/admin/canteens/{w.canteens['A']}/rules?q=%00")
    assert api.status_code == 422 and api.json()["error"]["code"] == "invalid_input"
    page = client.get("/bureau?q=a%00")
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    form = client.post(
        "/bureau/notices",
        content=f"csrf_token={token}&quarter=2026Q4%00".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 422
