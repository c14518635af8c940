"""Group commit (PaymentBatcher): batching must not weaken a single payment's guarantees."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.core.errors import IdempotencyConflict, InvalidAmount, NotFound
from onecard.ledger.models import Account
from onecard.ledger.service import account_id, derived_balance
from onecard.org.models import Person
from onecard.pay import paycode
from onecard.pay.batcher import PaymentBatcher, route_key
from onecard.pay.models import Payment
from onecard.pay.service import PaymentRequest, TerminalIdentity
from world import World, build_world, fund, purse

pytestmark = pytest.mark.postgres


@pytest.fixture
def batcher(pg_ctx: Context) -> Iterator[PaymentBatcher]:
    # One worker and a long window: everything submitted together lands in one batch.
    b = PaymentBatcher(pg_ctx, workers=1, window_ms=300, batch_max=64).start()
    yield b
    b.stop()


def body(outcome: object) -> dict[str, object]:
    return json.loads(outcome.body)  # type: ignore[attr-defined]


def takings(ctx: Context, w: World, canteen: str) -> int:
    with ctx.db.read() as conn:
        acct = account_id(conn, "canteen", w.canteens[canteen], "canteen_payable")
        return derived_balance(conn, acct)


def test_one_purse_many_payments_in_one_batch_exactly_the_affordable_pass(
    pg_ctx: Context, batcher: PaymentBatcher
) -> None:
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=1000, cash=200)  # four 300-fen meals, 0 left over
    fund(pg_ctx, w, "b1", subsidy=5000)
    t = w.terminals["A"]
    futs = [
        batcher.submit(t, PaymentRequest(f"m{i}", w.cards["a1"], amount_fen=300)) for i in range(10)
    ]
    # A neighbour in the same batch is not disturbed by the refusals around it.
    other = batcher.submit(t, PaymentRequest("b-1", w.cards["b1"], amount_fen=450))
    got = [body(f.result(timeout=30)) for f in futs]
    assert batcher.stats.batches == 1 and batcher.stats.largest == 11
    approved = [g for g in got if g["result"] == "approved"]
    refused = [g for g in got if g["result"] == "refused"]
    assert len(approved) == 4
    assert {g["code"] for g in refused} == {"insufficient_funds"} and len(refused) == 6
    # Arrival order decides: the first four were the affordable ones.
    assert [g["txn_id"] for g in approved] == ["m0", "m1", "m2", "m3"]
    assert approved[-1]["balances"] == {"subsidy_fen": 0, "cash_fen": 0}
    assert body(other.result(timeout=30))["result"] == "approved"
    assert purse(pg_ctx, w, "a1") == (0, 0)
    assert purse(pg_ctx, w, "b1") == (4550, 0)
    assert takings(pg_ctx, w, "A") == 1200 + 450


def test_twenty_threads_one_purse_exactly_n_approved(pg_ctx: Context) -> None:
    w = build_world(pg_ctx)
    n = 7
    fund(pg_ctx, w, "a2", subsidy=300 * n)
    b = PaymentBatcher(pg_ctx, workers=3, window_ms=2).start()
    try:
        start = threading.Barrier(20)

        def go(i: int) -> dict[str, object]:
            start.wait()
            req = PaymentRequest(f"c{i}", w.cards["a2"], amount_fen=300)
            return body(b.submit(w.terminals["A"], req).result(timeout=30))

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            got = list(pool.map(go, range(20)))
    finally:
        b.stop()
    results = [g["result"] for g in got]
    assert results.count("approved") == n
    assert results.count("refused") == 20 - n
    assert all(g["code"] == "insufficient_funds" for g in got if g["result"] == "refused")
    assert purse(pg_ctx, w, "a2") == (0, 0)
    assert takings(pg_ctx, w, "A") == 300 * n


def test_retry_of_the_same_txn_inside_one_batch_is_one_payment(
    pg_ctx: Context, batcher: PaymentBatcher
) -> None:
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000)
    t = w.terminals["A"]
    req = PaymentRequest("same-1", w.cards["a1"], meal="lunch")
    first, again = batcher.submit(t, req), batcher.submit(t, req)
    conflicting = batcher.submit(t, PaymentRequest("same-1", w.cards["a1"], amount_fen=1))
    one, two = first.result(timeout=30), again.result(timeout=30)
    assert batcher.stats.batches == 1
    assert one.approved and not one.replayed
    assert two.replayed and two.body == one.body
    with pytest.raises(IdempotencyConflict):
        conflicting.result(timeout=30)
    with pg_ctx.db.read() as conn:
        count = conn.execute(select(func.count()).select_from(Payment)).scalar_one()
    assert count == 1
    assert purse(pg_ctx, w, "a1") == (4700, 0)
    # After the commit a retry still gets the same bytes.
    assert batcher.submit(t, req).result(timeout=30).body == one.body


def test_an_error_in_one_payment_fails_only_that_one(
    pg_ctx: Context, batcher: PaymentBatcher
) -> None:
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000)
    fund(pg_ctx, w, "b1", subsidy=5000)
    t = w.terminals["A"]
    ok1 = batcher.submit(t, PaymentRequest("e1", w.cards["a1"], amount_fen=100))
    bad = batcher.submit(t, PaymentRequest("e2", w.cards["b1"], meal="brunch"))
    ok2 = batcher.submit(t, PaymentRequest("e3", w.cards["b1"], amount_fen=100))
    with pytest.raises(NotFound):
        bad.result(timeout=30)
    assert ok1.result(timeout=30).approved and ok2.result(timeout=30).approved
    assert purse(pg_ctx, w, "a1") == (4900, 0) and purse(pg_ctx, w, "b1") == (4900, 0)
    with pytest.raises(InvalidAmount):  # bad input is refused before it is queued
        batcher.submit(t, PaymentRequest("e4", w.cards["b1"], amount_fen=0))


def test_payment_codes_in_a_batch_are_single_use(pg_ctx: Context, batcher: PaymentBatcher) -> None:
    w = build_world(pg_ctx)
    fund(pg_ctx, w, "c1", subsidy=5000)
    with pg_ctx.db.read() as conn:
        token, secret = conn.execute(
            select(Person.paycode_token, Person.paycode_secret).where(Person.id == w.people["c1"])
        ).one()
    code = paycode.make_code(
        pg_ctx.settings.region_no,
        token,
        secret,
        _unix(pg_ctx),
        pg_ctx.settings.paycode_step_seconds,
    )
    t = w.terminals["A"]
    first = batcher.submit(t, PaymentRequest("q1", code, amount_fen=500))
    reused = batcher.submit(t, PaymentRequest("q2", code, amount_fen=500))
    assert route_key(code) == route_key(" " + code)
    assert body(first.result(timeout=30))["result"] == "approved"
    got = body(reused.result(timeout=30))
    assert (got["result"], got["code"]) == ("refused", "code_reused")
    assert purse(pg_ctx, w, "c1") == (4500, 0)


def _unix(ctx: Context) -> float:
    from datetime import UTC

    return ctx.clock.now().replace(tzinfo=UTC).timestamp()


def test_the_web_app_batches_when_enabled(pg_ctx: Context) -> None:
    from onecard.web.app import create_app

    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000)
    settings = pg_ctx.settings.model_copy(update={"batch_payments": True})
    ctx = dataclasses.replace(pg_ctx, settings=settings, payment_batcher=None)
    headers = {"Authorization": f"Terminal T-A1:{w.keys['A']}"}
    url = "/api/v1/terminal/payments"
    lunch = {"txn_id": "w1", "credential": w.cards["a1"], "meal": "lunch"}

    async def scenario() -> None:
        app = create_app(ctx)
        async with app.router.lifespan_context(app):
            batcher = ctx.payment_batcher
            assert isinstance(batcher, PaymentBatcher)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r, again = await asyncio.gather(
                    client.post(url, json=lunch, headers=headers),
                    client.post(url, json=lunch, headers=headers),
                )
                assert r.status_code == 200 and r.json()["result"] == "approved"
                assert again.content == r.content
                conflict = await client.post(
                    url, json={**lunch, "meal": None, "amount_fen": 1}, headers=headers
                )
                assert conflict.status_code == 409
            assert batcher.stats.payments == 3
        assert ctx.payment_batcher is None  # stopped on shutdown

    asyncio.run(scenario())
    assert purse(pg_ctx, w, "a1") == (4700, 0)


def _script(ctx: Context, w: World) -> list[tuple[TerminalIdentity, PaymentRequest]]:
    """Every kind of answer a payment can get, several of them from one purse."""
    with ctx.db.read() as conn:
        token, secret = conn.execute(
            select(Person.paycode_token, Person.paycode_secret).where(Person.id == w.people["c1"])
        ).one()
    code = paycode.make_code(
        ctx.settings.region_no, token, secret, _unix(ctx), ctx.settings.paycode_step_seconds
    )
    bad_code = code[:-6] + ("000000" if code[-6:] != "000000" else "111111")
    # A token rotated away (a lost phone's): its codes are refused as code_revoked.
    revoked = paycode.make_code(
        ctx.settings.region_no, "99999999", secret, _unix(ctx), ctx.settings.paycode_step_seconds
    )
    nobody = paycode.make_code(
        ctx.settings.region_no, "99999998", secret, _unix(ctx), ctx.settings.paycode_step_seconds
    )
    a, b = w.terminals["A"], w.terminals["B"]
    r = PaymentRequest
    return [
        (a, r("s1", w.cards["a1"], meal="lunch")),  # own staff
        (a, r("s2", w.cards["a1"], meal="lunch")),  # one lunch a day
        (a, r("s3", w.cards["b1"], amount_fen=450)),  # visitor, open amount
        (b, r("s4", w.cards["b1"], meal="lunch")),  # own at B
        (a, r("s5", w.cards["c1"], amount_fen=100000)),  # insufficient
        (a, r("s6", w.cards["a2"], amount_fen=100)),  # lost card
        (a, r("s7", "4310009999999999", amount_fen=100)),  # unknown card
        (a, r("s8", code, amount_fen=200)),  # payment code
        (b, r("s9", code, amount_fen=200)),  # the same code again
        (a, r("s10", bad_code, amount_fen=200)),  # wrong otp
        (a, r("s11", w.cards["b1"], meal="brunch")),  # no such meal: an error
        (a, r("s12", w.cards["b1"], meal="breakfast")),  # outside the window
        (a, r("s3", w.cards["b1"], amount_fen=450)),  # retry inside the batch
        (a, r("s3", w.cards["b1"], amount_fen=451)),  # same id, other body
        (a, r("pre-1", w.cards["a1"], amount_fen=100)),  # retry of a stored decision
        (a, r("s13", w.cards["a1"], amount_fen=99999)),  # a1 short now...
        (b, r("s14", w.cards["a1"], amount_fen=1000)),  # ...cash after subsidy
        (a, r("s15", w.cards["c1"], amount_fen=300)),  # c1's last 300 fen
        (a, r("s16", w.cards["c1"], amount_fen=1)),  # and nothing left
        (a, r("s17", revoked, amount_fen=100)),  # a rotated-away token
        (a, r("s18", nobody, amount_fen=100)),  # no one's token
        (a, r("s19", w.cards["d1"], amount_fen=100)),  # a person who has left
        (a, r("s20", w.cards["b1"], items=(("X1", 2), ("X2", 1)))),  # item lines
        (a, r("s21", w.cards["b1"], items=(("X9", 1),))),  # unknown item: an error
        (b, r("s22", w.cards["c1"], amount_fen=1)),  # c1 still has nothing
        (a, r("s23", w.cards["a1"], meal="lunch")),  # the limit again, after payments
        (a, r("s24", w.cards["b1"], items=(("X3", 1),))),  # a good, no cash: refused
        (a, r("s25", w.cards["a1"], items=(("X1", 1), ("X3", 2)))),  # goods from cash
    ]


def _answer(r: object) -> object:
    if isinstance(r, BaseException):
        return type(r).__name__
    doc = json.loads(r.body)  # type: ignore[attr-defined]
    doc.pop("payment_id", None)
    return (r.approved, r.replayed, doc)  # type: ignore[attr-defined]


def test_the_single_path_and_the_batch_path_agree_on_a_mixed_workload(pg_ctx: Context) -> None:
    """Approvals and every kind of refusal, the same payer several times in one batch,
    retries, a conflict and bad input: the batch (facts gathered set-wise, one decision
    core, writes set-wise) answers byte for byte as the single path one by one, and
    leaves the same purses."""
    from sqlalchemy import insert, update

    from onecard.catalogue.models import Item
    from onecard.org import builders
    from onecard.pay.cards import issue_card_conn
    from onecard.pay.models import Card, RetiredPaycode
    from onecard.pay.service import decide_and_record, pay

    w = build_world(pg_ctx)
    with pg_ctx.db.begin() as conn:
        w.people["d1"] = builders.create_person(
            conn, w.region, w.units["A"], "Sd1", "陈静", standard_fen=60000
        )
        w.cards["d1"] = issue_card_conn(conn, pg_ctx, w.people["d1"])
        conn.execute(update(Person).where(Person.id == w.people["d1"]).values(status="left"))
        conn.execute(
            insert(RetiredPaycode).values(
                token="99999999",
                region_id=w.region,
                person_id=w.people["c1"],
                retired_at=pg_ctx.clock.now(),
            )
        )
        conn.execute(
            insert(Item),
            [
                {"canteen_id": w.canteens["A"], "sku": sku, "name": name, "price_fen": fen}
                for sku, name, fen in [("X1", "红烧肉", 250), ("X2", "米饭", 50)]
            ],
        )
        conn.execute(
            insert(Item).values(
                canteen_id=w.canteens["A"],
                sku="X3",
                name="矿泉水",
                kind="goods",
                price_fen=150,
                market_price_fen=200,
            )
        )
    fund(pg_ctx, w, "a1", subsidy=600, cash=2000)
    fund(pg_ctx, w, "b1", subsidy=5000)
    fund(pg_ctx, w, "c1", subsidy=500, cash=0)
    fund(pg_ctx, w, "d1", subsidy=500)
    with pg_ctx.db.begin() as conn:
        conn.execute(update(Card).where(Card.card_no == w.cards["a2"]).values(status="lost"))
    pay(pg_ctx, w.terminals["A"], PaymentRequest("pre-1", w.cards["a1"], amount_fen=100))
    script = _script(pg_ctx, w)
    people = ["a1", "a2", "b1", "c1", "d1"]

    # The reference: the single path, one payment after another, then rolled back.
    expected: list[object] = []
    with pg_ctx.db.engine.connect() as conn:
        trans = conn.begin()
        for t, req in script:
            try:
                with conn.begin_nested():
                    expected.append(_answer(decide_and_record(conn, pg_ctx, t, req)))
            except Exception as exc:
                expected.append(_answer(exc))
        ref_purses = {
            p: tuple(
                conn.execute(
                    select(Account.balance)
                    .where(Account.owner_kind == "person", Account.owner_id == w.people[p])
                    .order_by(Account.kind.desc())
                ).scalars()
            )
            for p in people
        }
        trans.rollback()

    b = PaymentBatcher(pg_ctx, workers=1, window_ms=300, batch_max=64).start()
    try:
        futs = [b.submit(t, req) for t, req in script]
        got = []
        for f in futs:
            try:
                got.append(_answer(f.result(timeout=30)))
            except Exception as exc:
                got.append(_answer(exc))
        assert b.stats.batches == 1
        # Everything but the in-batch retry and the conflicting body went set-wise.
        assert b.stats.set_based == len(script) - 2
    finally:
        b.stop()
    assert got == expected
    assert {p: purse(pg_ctx, w, p) for p in people} == ref_purses
    assert [a for a in got if not isinstance(a, str) and a[0]]  # some approved
    codes = {a[2].get("code") for a in got if not isinstance(a, str)}  # type: ignore[index]
    assert codes >= {
        "period_limit_reached",
        "insufficient_funds",
        "card_lost",
        "unknown_card",
        "code_reused",
        "code_invalid",
        "code_revoked",
        "outside_meal_period",
        "person_inactive",
    }


def test_a_terminal_known_from_memory_is_still_refused_once_revoked_or_rekeyed(
    pg_ctx: Context,
) -> None:
    """The web path recognises terminals in memory; the batch confirms them in its own
    transaction, so revocation and a new key still take effect at the next payment."""
    from sqlalchemy import update

    from onecard.org.builders import hash_device_key
    from onecard.org.models import Terminal
    from onecard.web.app import create_app

    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000)
    settings = pg_ctx.settings.model_copy(update={"batch_payments": True})
    ctx = dataclasses.replace(pg_ctx, settings=settings, payment_batcher=None)
    url = "/api/v1/terminal/payments"
    tid = w.terminals["A"].id

    def headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Terminal T-A1:{key}"}

    def set_terminal(**values: str) -> None:
        with pg_ctx.db.begin() as conn:
            conn.execute(update(Terminal).where(Terminal.id == tid).values(**values))

    async def scenario() -> None:
        app = create_app(ctx)
        async with app.router.lifespan_context(app):
            batcher = ctx.payment_batcher
            assert isinstance(batcher, PaymentBatcher)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

                async def pay(txn: str, key: str) -> httpx.Response:
                    body = {"txn_id": txn, "credential": w.cards["a1"], "amount_fen": 100}
                    return await client.post(url, json=body, headers=headers(key))

                # Every live terminal was remembered when the batcher started.
                assert batcher.terminals.recall("T-A1", w.keys["A"]) is not None
                assert (await pay("k1", w.keys["A"])).status_code == 200
                assert (await pay("k2", "not-the-key")).status_code == 401
                # Revoked behind the server's back: memory still knows the key, the
                # payment's transaction does not accept it.
                set_terminal(status="revoked")
                r = await pay("k3", w.keys["A"])
                assert r.status_code == 403 and r.json()["error"]["code"] == "terminal_revoked"
                # Not live (accepted, not yet made live): refused the same way.
                set_terminal(status="accepted")
                r = await pay("k3b", w.keys["A"])
                assert r.status_code == 403 and r.json()["error"]["code"] == "terminal_not_live"
                set_terminal(status="live", key_hash=hash_device_key("new-key"))
                r = await pay("k4", w.keys["A"])  # the old key, still remembered
                assert r.status_code == 401
                assert (await pay("k5", "new-key")).status_code == 200

    asyncio.run(scenario())
    assert purse(pg_ctx, w, "a1") == (4800, 0)
    with pg_ctx.db.read() as conn:
        txns = set(conn.execute(select(Payment.txn_id)).scalars())
    assert txns == {"k1", "k5"}
