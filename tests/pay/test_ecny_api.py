"""e-CNY over HTTP: the terminal's payment and its question, the acquirer's signed
callback (a bad signature is 401 with nothing written), the canteen's refund, and the
quarter's settlement picking the e-CNY money up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.core.context import Context
from onecard.funding.settlement import preview
from onecard.ledger.models import JournalEntry
from onecard.org.actors import Actor
from onecard.pay import ecny
from onecard.pay.models import EcnyOrder
from onecard.web.app import create_app
from world import World, build_world

WALLET = "W-api"


@pytest.fixture
def w(ctx: Context) -> World:
    return build_world(ctx)


@pytest.fixture
def sbx(ctx: Context) -> SandboxEcny:
    s = SandboxEcny(ctx.settings.secret_key.encode(), ctx.clock)
    s.open_wallet(WALLET, "张三", 10_000)
    ctx.ecny = s
    return s


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def auth(w: World, terminal: str = "A") -> dict[str, str]:
    return {"Authorization": f"Terminal {w.terminals[terminal].code}:{w.keys[terminal]}"}


def orders(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(EcnyOrder)).scalar_one())


def test_a_terminal_pays_and_asks(
    ctx: Context, w: World, sbx: SandboxEcny, client: TestClient
) -> None:
    body = {"txn_id": "h1", "pay_code": sbx.pay_code(WALLET), "meal": "lunch"}
    r = client.post("/api/v1/terminal/ecny/payments", json=body, headers=auth(w))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["result"] == "approved" and got["amount_fen"] == 800 and got["channel"] == "ecny"
    again = client.post("/api/v1/terminal/ecny/payments", json=body, headers=auth(w))
    assert again.content == r.content
    asked = client.get("/api/v1/terminal/ecny/payments/h1", headers=auth(w))
    assert asked.json()["result"] == "approved"
    assert client.get("/api/v1/terminal/ecny/payments/h1", headers=auth(w, "B")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"txn_id": "b1", "pay_code": "0100000000000000001x", "amount_fen": 100},
        {"txn_id": "b1", "pay_code": "1100000000000000001", "amount_fen": 100},
        {"txn_id": "b1", "pay_code": "0100000000000000001", "amount_fen": 0},
        {"txn_id": "b1", "pay_code": "0100000000000000001", "amount_fen": 100, "meal": "lunch"},
        {"txn_id": "b1", "pay_code": "0100000000000000001"},
    ],
)
def test_bad_input_is_422_with_nothing_written(
    ctx: Context, w: World, sbx: SandboxEcny, client: TestClient, body: dict[str, object]
) -> None:
    r = client.post("/api/v1/terminal/ecny/payments", json=body, headers=auth(w))
    assert r.status_code == 422, r.text
    assert orders(ctx) == 0 and sbx.merchant_balance() == 0


def test_the_callback_checks_the_signature_first(
    ctx: Context, w: World, sbx: SandboxEcny, client: TestClient
) -> None:
    sbx.behave(timeouts=1, down=1)
    body = {"txn_id": "n1", "pay_code": sbx.pay_code(WALLET), "amount_fen": 450}
    r = client.post("/api/v1/terminal/ecny/payments", json=body, headers=auth(w))
    assert r.json()["result"] == "pending"
    ((note, sig),) = sbx.pending_notices()
    forged = client.post(
        "/api/v1/channels/ecny/notify", content=note, headers={"X-Signature": "ab" * 32}
    )
    assert forged.status_code == 401
    with ctx.db.read() as conn:
        assert conn.execute(select(EcnyOrder.status)).scalar_one() == "pending"
    for _ in range(2):  # the acquirer retries: the second copy changes nothing
        ok = client.post("/api/v1/channels/ecny/notify", content=note, headers={"X-Signature": sig})
        assert ok.status_code == 200 and ok.json() == {"status": "succeeded"}
    with ctx.db.read() as conn:
        n = conn.execute(
            select(func.count()).where(JournalEntry.kind == "ecny_payment")
        ).scalar_one()
    assert n == 1


def test_refund_and_settlement(ctx: Context, w: World, sbx: SandboxEcny) -> None:
    from onecard.pay.service import PaymentRequest

    paid = ecny.pay(ctx, w.terminals["A"], PaymentRequest("s1", sbx.pay_code(WALLET), meal="lunch"))
    ecny.refund(ctx, Actor.system("test"), paid.order_no, 300, "RF-S1")
    gross = {f.canteen_id: f.gross_fen for f in preview(ctx, "2026Q1")}
    assert gross[w.canteens["A"]] == 500  # e-CNY lands in the canteen's quarter, net of refunds
