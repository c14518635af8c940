"""Ask, don't guess (issue 10, item 2): ``GET /api/v1/terminal/payments/{txn_id}``.

A terminal whose answer was lost learns the stored outcome — the very bytes it would
have been answered — without sending the payment code again; or hears a clear "never
seen" (404 ``payment_not_seen``). The three sequences of docs/api.md: answer lost,
server restarted, terminal restarted mid-payment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import warnings
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from onecard.core.context import Context
from onecard.web.app import create_app
from world import World, build_world, fund, purse

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAY = "/api/v1/terminal/payments"


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=500)
    return world


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


def auth(w: World, terminal: str = "A") -> dict[str, str]:
    return {"Authorization": f"Terminal {w.terminals[terminal].code}:{w.keys[terminal]}"}


def test_answer_lost_the_stored_answer_byte_for_byte(
    ctx: Context, w: World, client: TestClient
) -> None:
    approved = client.post(
        PAY, json={"txn_id": "q1", "credential": w.cards["a1"], "amount_fen": 300}, headers=auth(w)
    )
    refused = client.post(
        PAY, json={"txn_id": "q2", "credential": w.cards["a1"], "amount_fen": 300}, headers=auth(w)
    )
    assert (
        approved.json()["result"] == "approved" and refused.json()["code"] == "insufficient_funds"
    )
    for txn, first in (("q1", approved), ("q2", refused)):
        asked = client.get(f"{PAY}/{txn}", headers=auth(w))
        assert asked.status_code == 200
        assert asked.headers["content-type"] == "application/json"
        assert asked.content == first.content
    assert purse(ctx, w, "a1") == (200, 0)  # asking moved nothing


def test_never_seen_and_only_its_own(ctx: Context, w: World, client: TestClient) -> None:
    client.post(
        PAY,
        json={"txn_id": "mine", "credential": w.cards["a1"], "amount_fen": 100},
        headers=auth(w),
    )
    for txn, headers in (("never-sent", auth(w)), ("mine", auth(w, "B"))):
        r = client.get(f"{PAY}/{txn}", headers=headers)
        assert r.status_code == 404
        err = r.json()["error"]
        assert err["code"] == "payment_not_seen" and err["request_id"] and err["message"]
    # Bad input is never stored: asking after a 422 says "never seen" too.
    bad = client.post(
        PAY, json={"txn_id": "bad", "credential": "12", "amount_fen": 1}, headers=auth(w)
    )
    assert bad.status_code == 422
    assert client.get(f"{PAY}/bad", headers=auth(w)).status_code == 404


def test_asking_needs_the_terminal_and_a_sane_id(w: World, client: TestClient) -> None:
    assert client.get(f"{PAY}/q1").status_code == 401
    wrong = {"Authorization": f"Terminal T-A1:{w.keys['B']}"}
    assert client.get(f"{PAY}/q1", headers=wrong).status_code == 401
    r = client.get(f"{PAY}/{'x' * 65}", headers=auth(w))
    assert r.status_code == 422 and r.json()["error"]["request_id"]


def test_server_restarted_a_new_process_answers_from_the_database(ctx: Context, w: World) -> None:
    body = {"txn_id": "r1", "credential": w.cards["a1"], "amount_fen": 100}
    with TestClient(create_app(ctx)) as before:
        first = before.post(PAY, json=body, headers=auth(w))
    with TestClient(create_app(ctx)) as after:  # nothing in memory survives
        assert after.get(f"{PAY}/r1", headers=auth(w)).content == first.content
        assert after.post(PAY, json=body, headers=auth(w)).content == first.content
    assert purse(ctx, w, "a1") == (400, 0)


@pytest.mark.postgres
def test_terminal_restarted_mid_payment_never_seen_until_decided_then_the_answer(
    pg_ctx: Context,
) -> None:
    """The payment is still in flight (held behind a lock): asking says "never seen";
    once it is decided, asking gives its answer — batching on, as at the lunch rush."""
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=500)
    settings = pg_ctx.settings.model_copy(update={"batch_payments": True})
    ctx = dataclasses.replace(pg_ctx, settings=settings, payment_batcher=None)
    body = {"txn_id": "m1", "credential": w.cards["a1"], "amount_fen": 100}

    async def scenario() -> None:
        app = create_app(ctx)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                with pg_ctx.db.engine.connect() as blocker:
                    blocker.execute(
                        text(
                            "SELECT 1 FROM accounts WHERE owner_kind = 'person'"
                            " AND owner_id = :p FOR UPDATE"
                        ),
                        {"p": w.people["a1"]},
                    )
                    in_flight = asyncio.create_task(client.post(PAY, json=body, headers=auth(w)))
                    await asyncio.sleep(0.3)
                    asked = await client.get(f"{PAY}/m1", headers=auth(w))
                    assert asked.status_code == 404 and not in_flight.done()
                    blocker.rollback()
                first = await in_flight
                assert first.status_code == 200
                asked = await client.get(f"{PAY}/m1", headers=auth(w))
                assert asked.content == first.content

    asyncio.run(scenario())
    assert purse(pg_ctx, w, "a1") == (400, 0)
