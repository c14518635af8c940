"""e-CNY at the till: the cashier scans the diner's e-CNY payment code into the same input
as a card; the till charges it through ``pay.ecny`` (the guest price of the meal), shows
a pending answer as pending and asks again on the button."""

from __future__ import annotations

from sqlalchemy import select

from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.core.context import Context
from onecard.pay.models import EcnyOrder
from web.pages import Staff, TestClient, sign_in
from world import World

WALLET = "W-till"
GUEST_LUNCH_A = 800  # canteen A's lunch for a guest (tests/world.py)


def _sbx(ctx: Context) -> SandboxEcny:
    s = SandboxEcny(b"test-secret", ctx.clock)
    s.open_wallet(WALLET, "王五", 10_000)
    ctx.ecny = s
    return s


def _post(client: TestClient, url: str, token: str, canteen_id: int, **data: str) -> str:
    r = client.post(
        url,
        data={"csrf_token": token, "canteen_id": str(canteen_id), **data},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200, r.text
    return r.text


def test_the_till_takes_an_e_cny_code_for_the_meal(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = _sbx(ctx)
    token, _ = sign_in(client, ctx, "Scm")
    code = sbx.pay_code(WALLET)
    out = _post(client, "/till/pay", token, w.canteens["A"], credential=code, meal="lunch")
    assert 'data-result="approved"' in out and 'data-channel="ecny"' in out
    assert "¥8.00" in out and "数字人民币" in out
    assert sbx.wallet_balance(WALLET) == 10_000 - GUEST_LUNCH_A
    with ctx.db.read() as conn:
        assert conn.execute(select(EcnyOrder.status)).scalar_one() == "succeeded"


def test_a_pending_answer_shows_pending_and_is_asked_again(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sbx = _sbx(ctx)
    token, _ = sign_in(client, ctx, "Scm")
    sbx.behave(timeouts=1, down=1)  # the reply is lost, and so is the till's one query
    out = _post(
        client,
        "/till/pay",
        token,
        w.canteens["A"],
        credential=sbx.pay_code(WALLET),
        mode="amount",
        amount="3.50",
    )
    assert 'data-result="pending"' in out and 'id="ecny-check"' in out
    with ctx.db.read() as conn:
        txn = conn.execute(select(EcnyOrder.txn_id)).scalar_one()
    assert f'value="{txn}"' in out
    again = _post(client, "/till/ecny/check", token, w.canteens["A"], txn_id=txn)
    assert 'data-result="approved"' in again and "¥3.50" in again
    assert sbx.wallet_balance(WALLET) == 10_000 - 350


def test_a_bad_e_cny_answer_is_a_refusal_and_a_card_still_pays(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    _sbx(ctx)
    token, _ = sign_in(client, ctx, "Scm")
    unknown = "01" + "9" * 17  # well formed, no such wallet at the acquirer
    out = _post(client, "/till/pay", token, w.canteens["A"], credential=unknown, meal="lunch")
    assert 'data-result="refused"' in out and 'data-channel="ecny"' in out
    missing = _post(client, "/till/ecny/check", token, w.canteens["A"], txn_id="web-nope")
    assert 'data-result="refused"' in missing
    assert (
        client.post(
            "/till/ecny/check",
            data={"csrf_token": token, "canteen_id": str(w.canteens["A"]), "txn_id": "x"},
        ).status_code
        == 200
    )
