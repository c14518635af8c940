"""Group commit rides through database outages (issue 10, item 1).

The shared PostgreSQL is never restarted here: a worker's own session is ended with
``pg_terminate_backend`` (what a restart or a crash does to it), and "the database is
down" is a worker connecting to a port where nothing listens. The real restarts are in
``tests/ops/test_storms.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select, text

from onecard.core.context import Context
from onecard.core.db import make_engine
from onecard.core.errors import PaymentNotConfirmed
from onecard.pay.batcher import PaymentBatcher
from onecard.pay.models import Payment
from onecard.pay.service import PaymentRequest
from onecard.web.app import create_app
from world import World, build_world, fund, purse

pytestmark = pytest.mark.postgres

# Nothing listens here (a port of this helper's range, never a cluster of these tests).
NOWHERE = "postgresql://postgres@127.0.0.1:5449/nowhere"


@pytest.fixture
def w(pg_ctx: Context) -> World:
    world = build_world(pg_ctx)
    fund(pg_ctx, world, "a1", subsidy=5000)
    return world


@pytest.fixture
def batcher(pg_ctx: Context) -> Iterator[PaymentBatcher]:
    b = PaymentBatcher(pg_ctx, workers=1, window_ms=1, wait_s=2.0).start()
    yield b
    b.stop()


def lunch(w: World, txn: str, amount: int = 100) -> tuple[object, PaymentRequest]:
    return w.terminals["A"], PaymentRequest(txn, w.cards["a1"], amount_fen=amount)


def pay(b: PaymentBatcher, w: World, txn: str, amount: int = 100) -> object:
    terminal, req = lunch(w, txn, amount)
    return b.submit(terminal, req).result(timeout=30)  # type: ignore[arg-type]


def kill_worker_session(ctx: Context, b: PaymentBatcher) -> None:
    """End the worker's database session as a PostgreSQL restart would."""
    conn = b._pool[0].conn
    assert conn is not None
    pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
    with ctx.db.engine.connect() as admin:
        assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        admin.commit()


def wait_until(check: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def payments(ctx: Context) -> list[str]:
    with ctx.db.read() as conn:
        return sorted(conn.execute(select(Payment.txn_id)).scalars())


def test_a_lost_connection_is_replaced_and_the_batch_decided_on_the_new_one(
    pg_ctx: Context, w: World, batcher: PaymentBatcher
) -> None:
    assert pay(batcher, w, "h1").approved  # type: ignore[attr-defined]
    kill_worker_session(pg_ctx, batcher)
    assert pay(batcher, w, "h2").approved  # type: ignore[attr-defined]
    health = batcher.health()
    assert health["ready"] and health["workers"][0]["reconnects"] == 1
    assert payments(pg_ctx) == ["h1", "h2"] and purse(pg_ctx, w, "a1") == (4800, 0)


def test_while_the_database_is_unreachable_payments_get_503_and_the_worker_heals_itself(
    pg_ctx: Context, w: World, batcher: PaymentBatcher
) -> None:
    assert pay(batcher, w, "u1").approved  # type: ignore[attr-defined]
    nowhere = make_engine(NOWHERE)
    batcher.connect = nowhere.connect  # the database "goes away"...
    kill_worker_session(pg_ctx, batcher)  # ...and the worker's session with it
    started = time.monotonic()
    with pytest.raises(PaymentNotConfirmed):
        pay(batcher, w, "u2")
    # Answered at once, not after the wait bound; the worker is alive and says why.
    assert time.monotonic() - started < batcher.wait
    assert not batcher.health()["ready"]
    assert batcher.health()["workers"][0]["state"] == "reconnecting"
    terminal, req = lunch(w, "u3")
    with pytest.raises(PaymentNotConfirmed):  # refused before it is even queued
        batcher.submit(terminal, req)  # type: ignore[arg-type]
    # The database comes back: the worker reconnects by itself, with no payment arriving.
    batcher.connect = pg_ctx.db.engine.connect
    assert wait_until(lambda: batcher.health()["ready"], 5.0)
    assert batcher.health()["workers"][0]["reconnects"] == 1
    # The terminal re-sends u2 and is answered; nothing was doubled or lost.
    assert pay(batcher, w, "u2").approved  # type: ignore[attr-defined]
    assert payments(pg_ctx) == ["u1", "u2"] and purse(pg_ctx, w, "a1") == (4800, 0)
    nowhere.dispose()


def test_no_payment_waits_past_its_bound_nor_is_committed_after_it(
    pg_ctx: Context, w: World, batcher: PaymentBatcher
) -> None:
    """A batch stuck behind a lock: its caller gets 503 at the bound, and when the lock
    goes the batch is rolled back instead of committed (the terminal was told "not
    confirmed"); the re-sent payment is then decided once."""
    terminal, req = lunch(w, "s1")
    with pg_ctx.db.engine.connect() as blocker:
        blocker.execute(
            text("SELECT 1 FROM accounts WHERE owner_kind = 'person' AND owner_id = :p FOR UPDATE"),
            {"p": w.people["a1"]},
        )

        async def caller() -> float:
            started = time.monotonic()
            with pytest.raises(PaymentNotConfirmed):
                await batcher.pay(terminal, req)  # type: ignore[arg-type]
            return time.monotonic() - started

        waited = asyncio.run(caller())
        assert batcher.wait <= waited < batcher.wait + 2.0
        assert batcher.health()["workers"][0]["state"] == "stuck"
        blocker.rollback()
    assert wait_until(lambda: batcher.health()["ready"])
    assert payments(pg_ctx) == []  # rolled back past its deadline, not committed
    assert pay(batcher, w, "s1").approved  # type: ignore[attr-defined]
    assert payments(pg_ctx) == ["s1"] and purse(pg_ctx, w, "a1") == (4900, 0)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_worker_is_started_again(
    pg_ctx: Context, w: World, batcher: PaymentBatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batcher.run_batch
    killed = threading.Event()

    def dies_once(conn: object, items: list[object]) -> object:
        if not killed.is_set():
            killed.set()
            sys.exit()  # ends the worker thread (SystemExit is not caught by it)
        return real(conn, items)  # type: ignore[arg-type]

    monkeypatch.setattr(batcher, "run_batch", dies_once)

    async def first() -> None:
        terminal, req = lunch(w, "d1")
        with pytest.raises(PaymentNotConfirmed):  # its worker died holding it
            await batcher.pay(terminal, req)  # type: ignore[arg-type]

    asyncio.run(first())
    assert killed.is_set()
    # Started again by the watchdog, without waiting for another payment to need it.
    assert wait_until(lambda: batcher._pool[0].restarts == 1 and batcher._pool[0].alive())
    assert wait_until(lambda: batcher.health()["ready"])
    assert pay(batcher, w, "d1").approved  # type: ignore[attr-defined]
    assert batcher.health()["workers"][0]["restarts"] == 1
    assert payments(pg_ctx) == ["d1"]


def test_over_http_an_outage_is_a_json_503_and_readiness_tells_the_truth(
    pg_ctx: Context, w: World
) -> None:
    """Fast path and readiness, one app, batching on: the terminal hears 503
    payment_not_confirmed (JSON, request id, Retry-After), /readyz says 503 not_ready
    while the worker cannot connect and 200 once it healed, /healthz stays 200."""
    settings = pg_ctx.settings.model_copy(update={"batch_payments": True})
    ctx = dataclasses.replace(pg_ctx, settings=settings, payment_batcher=None)
    headers = {"Authorization": f"Terminal T-A1:{w.keys['A']}"}
    url = "/api/v1/terminal/payments"
    nowhere = make_engine(NOWHERE)

    async def scenario() -> None:
        app = create_app(ctx)
        async with app.router.lifespan_context(app):
            batcher = ctx.payment_batcher
            assert isinstance(batcher, PaymentBatcher)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

                async def pay(txn: str) -> httpx.Response:
                    body = {"txn_id": txn, "credential": w.cards["a1"], "amount_fen": 100}
                    return await client.post(url, json=body, headers=headers)

                assert (await pay("x1")).status_code == 200
                assert (await client.get("/readyz")).status_code == 200
                batcher.connect = nowhere.connect
                kill_worker_session(pg_ctx, batcher)
                r = await pay("x2")
                assert r.status_code == 503 and r.headers["retry-after"] == "1"
                err = r.json()["error"]
                assert err["code"] == "payment_not_confirmed" and err["request_id"]
                assert r.headers["x-request-id"] == err["request_id"]
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["error"]["code"] == "not_ready"
                assert ready.json()["error"]["checks"]["payments"] == "reconnecting"
                assert (await client.get("/healthz")).status_code == 200
                batcher.connect = pg_ctx.db.engine.connect
                for _ in range(250):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.02)
                assert (await client.get("/readyz")).json()["checks"]["payments"] == "ok"
                again = await pay("x2")
                assert again.status_code == 200 and again.json()["result"] == "approved"

    asyncio.run(scenario())
    nowhere.dispose()
    assert payments(pg_ctx) == ["x1", "x2"]
    with pg_ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Payment)).scalar_one() == 2


def test_the_fast_path_never_answers_plain_text(
    pg_ctx: Context, w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the fast path's payment raises, the terminal gets the JSON shape: a 503
    to retry, or a logged 500 with a request id."""
    settings = pg_ctx.settings.model_copy(update={"batch_payments": True})
    ctx = dataclasses.replace(pg_ctx, settings=settings, payment_batcher=None)
    headers = {"Authorization": f"Terminal T-A1:{w.keys['A']}", "X-Request-ID": "fast-1"}
    body = {"txn_id": "f1", "credential": w.cards["a1"], "amount_fen": 100}

    async def scenario() -> None:
        app = create_app(ctx)
        async with app.router.lifespan_context(app):
            batcher = ctx.payment_batcher
            assert isinstance(batcher, PaymentBatcher)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

                async def broken(*args: object, **kwargs: object) -> object:
                    raise RuntimeError("a bug in the payment path")

                monkeypatch.setattr(batcher, "pay", broken)
                r = await client.post("/api/v1/terminal/payments", json=body, headers=headers)
                assert r.status_code == 500 and r.headers["content-type"] == "application/json"
                assert r.json()["error"] == {
                    "code": "internal_error",
                    "message": "系统内部错误，已记录，请稍后重试",
                    "request_id": "fast-1",
                }

    asyncio.run(scenario())
    assert payments(pg_ctx) == []
