"""Without group commit too (batching off; the same code serves SQLite), a payment is answered within
``ONECARD_PAYMENT_WAIT_SECONDS`` (+ ~1 s) and an attempt answered 503 is never committed
afterwards: the request's thread is abandoned at the bound and its transaction, when it
finally gets its turn, rolls back instead of committing."""

from __future__ import annotations

import time
import warnings

import pytest
from sqlalchemy import func, select, text

from onecard.core.context import Context
from onecard.pay.models import Payment
from onecard.web.app import create_app
from world import build_world, fund, purse

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAY = "/api/v1/terminal/payments"


def count(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Payment)).scalar_one())


@pytest.mark.postgres
def test_a_payment_held_up_is_answered_503_at_its_bound_and_not_committed_later(
    pg_ctx: Context,
) -> None:
    ctx = pg_ctx
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5000)
    settings = ctx.settings.model_copy(update={"payment_wait_seconds": 1.0})
    bounded = Context(db=ctx.db, clock=ctx.clock, settings=settings, bank=ctx.bank)
    headers = {"Authorization": f"Terminal T-A1:{w.keys['A']}"}
    body = {"txn_id": "b1", "credential": w.cards["a1"], "amount_fen": 100}
    with TestClient(create_app(bounded)) as client:
        client.get("/readyz")  # the terminal lookup below must not be what waits
        with ctx.db.engine.connect() as holder:
            # Another transaction holds what the payment needs: the payer's purses.
            trans = holder.begin()
            holder.execute(
                text(
                    "SELECT 1 FROM accounts WHERE owner_kind = 'person'"
                    " AND owner_id = :p FOR UPDATE"
                ),
                {"p": w.people["a1"]},
            )
            started = time.monotonic()
            r = client.post(PAY, json=body, headers=headers)
            waited = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "payment_not_confirmed"
            assert 1.0 <= waited < 3.5
            trans.rollback()
        time.sleep(1.0)  # the abandoned attempt gets its turn now, past its bound
        assert count(ctx) == 0
        again = client.post(PAY, json=body, headers=headers)
        assert again.status_code == 200 and again.json()["result"] == "approved"
    assert count(ctx) == 1 and purse(ctx, w, "a1") == (4900, 0)
