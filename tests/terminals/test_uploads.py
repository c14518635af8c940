"""Uploads of offline records: applied once and in order, refused with a reason per
record, late ones in the first open quarter, short purses as debts (R-F3)."""

from __future__ import annotations

import copy
from datetime import UTC, date, timedelta

from sqlalchemy import select

from onecard.core.context import Context
from onecard.funding import distribution
from onecard.funding.notices import issue_notices
from onecard.ledger.models import Account, JournalEntry
from onecard.ledger.service import Leg, account_id, close_period, post, system_account
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.pay import paycode
from onecard.pay.models import Payment
from onecard.pay.service import PaymentRequest, pay
from onecard.terminals import signing
from onecard.terminals.models import OfflineDebt, OfflineTerminal
from onecard.terminals.queries import unit_debts
from terminals.offline_kit import app_client, ledger_ok, signed, till, upload_raw, written
from world import World, build_world, fund, purse

BUREAU = Actor.system("bureau")


def next_seq(ctx: Context, w: World) -> int:
    with ctx.db.read() as conn:
        return int(
            conn.execute(
                select(OfflineTerminal.next_seq).where(
                    OfflineTerminal.terminal_id == w.terminals["A"].id
                )
            ).scalar_one()
        )


def test_sold_offline_then_uploaded_once(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1_000, cash=500)
    fund(ctx, w, "a2", subsidy=1_000)
    fund(ctx, w, "b1", cash=1_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        answers = [sim.sell(w.cards[p], meal="lunch") for p in ("a1", "a2", "b1")]
        assert [a.result for a in answers] == ["approved"] * 3 and all(a.offline for a in answers)
        # One lunch per person a day (the meal period's count), offline too.
        assert sim.sell(w.cards["a1"], meal="lunch").code == "offline_over_limit:meal_count"
        assert purse(ctx, w, "a1") == (1_000, 500)  # nothing reached the server yet
        sent = copy.deepcopy(sim.queue)
        sim.restore()
        results = sim.upload(batch_size=2)
        assert [r["result"] for r in results] == ["applied"] * 3
        assert {r["period"] for r in results} == {"2026Q1"} and not sim.queue
        assert purse(ctx, w, "a1") == (700, 500)
        assert purse(ctx, w, "a2") == (700, 0)
        assert purse(ctx, w, "b1") == (0, 500)  # a visitor's lunch
        before = written(ctx)
        # The same batch again: answered from what is stored, nothing applied twice.
        again = upload_raw(client, w, sent)
        assert [r["result"] for r in again] == ["duplicate"] * 3
        assert [r["payment_id"] for r in again] == [r["payment_id"] for r in results]
        assert written(ctx) == before and purse(ctx, w, "a1") == (700, 500)
        # A second lunch the till would not have sold, signed anyway: refused.
        second = {**sent[0]["record"], "seq": 4, "txn_id": "T-A1-off-4"}
        [got] = upload_raw(client, w, [signed(sim.key, second)])
        assert got["code"] == "offline_over_limit" and "meal_count" in got["message"]
        assert purse(ctx, w, "a1") == (700, 500)
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Payment.status, Payment.amount_fen, Payment.business_date, Payment.diner_class)
            .where(Payment.canteen_id == w.canteens["A"])
            .order_by(Payment.id)
        ).all()
    day = date(2026, 3, 10)
    assert [tuple(r) for r in rows] == [
        ("approved", 300, day, "own"),
        ("approved", 300, day, "own"),
        ("approved", 500, day, "visitor"),
    ]
    ledger_ok(ctx)


def test_records_out_of_order_wait_for_the_earlier_ones(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        for _ in range(4):
            assert sim.sell(w.cards["a1"], amount_fen=200).result == "approved"
        first, later = sim.queue[:2], sim.queue[2:]
        early = upload_raw(client, w, later)
        assert [(r["result"], r["expected_seq"]) for r in early] == [("deferred", 1)] * 2
        assert written(ctx)[1:] == (0, 0) and purse(ctx, w, "a1") == (5_000, 0)
        # One batch given out of order is put in order.
        both = upload_raw(client, w, [later[0], first[1], first[0], later[1]])
        assert [(r["seq"], r["result"]) for r in both] == [(n, "applied") for n in (1, 2, 3, 4)]
        assert purse(ctx, w, "a1") == (4_200, 0) and next_seq(ctx, w) == 5
    ledger_ok(ctx)


def test_forged_altered_replayed_and_over_limit_records_are_refused(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=20_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        assert sim.sell(w.cards["a1"], amount_fen=500).result == "approved"
        genuine = sim.queue[0]
        record = genuine["record"]
        before = written(ctx)

        # Forged: signed by some other key.
        forged = signed(signing.new_key(), record)
        # Altered: the amount raised after signing.
        altered = copy.deepcopy(genuine)
        altered["record"]["amount_fen"] = 2_500
        answers = upload_raw(client, w, [forged, altered])
        assert [r["code"] for r in answers] == ["offline_forged", "offline_altered"]
        assert all(r["result"] == "refused" and r["message"] for r in answers)
        assert written(ctx) == before and next_seq(ctx, w) == 1  # nothing at all written

        assert upload_raw(client, w, [genuine])[0]["result"] == "applied"
        after_genuine = written(ctx)

        # Replayed: the terminal signs the same transaction again under a new number.
        replay = {**record, "seq": 2}
        # Over a limit: more than one payment may be offline.
        over = {**record, "seq": 3, "txn_id": "T-A1-off-3", "amount_fen": 3_001}
        # Another record under a number already used.
        reused = {**record, "txn_id": "T-A1-off-x"}
        items = [signed(sim.key, r) for r in (replay, over, reused)]
        got = upload_raw(client, w, items)
        assert [(r["seq"], r["code"]) for r in got] == [
            (1, "offline_seq_reused"),
            (2, "offline_replayed"),
            (3, "offline_over_limit"),
        ]
        assert "per_payment" in got[2]["message"]
        entries, payments, records = written(ctx)
        # No money moved, no payment: the two genuine refusals are kept (their numbers
        # are spent, a re-upload is answered the same), the reused number is not.
        assert (entries, payments) == after_genuine[:2] and records == after_genuine[2] + 2
        assert purse(ctx, w, "a1") == (19_500, 0) and next_seq(ctx, w) == 4
        assert [r["result"] for r in upload_raw(client, w, items[:2])] == ["duplicate"] * 2
    ledger_ok(ctx)


def test_the_till_keeps_to_the_limits_and_a_code_is_spent_once(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=20_000)
    with ctx.db.read() as conn:
        token, secret = conn.execute(
            select(Person.paycode_token, Person.paycode_secret).where(Person.id == w.people["a1"])
        ).one()
    with app_client(ctx) as client:
        sim = till(ctx, w, client, step=timedelta(seconds=10))
        sim.cut()
        at = (ctx.clock.now() + timedelta(seconds=10)).replace(tzinfo=UTC).timestamp()
        code = paycode.make_code(ctx.settings.region_no, token, secret, at)
        assert sim.sell(code, amount_fen=1_000).result == "approved"
        assert sim.sell(code, amount_fen=1_000).code == "code_reused"
        assert sim.sell(w.cards["a1"], amount_fen=3_500).code == "offline_over_limit:per_payment"
        assert sim.sell(w.cards["a1"], amount_fen=3_000).result == "approved"
        assert sim.sell(w.cards["a1"], amount_fen=2_500).code == "offline_over_limit:person_day"
        assert sim.sell(w.cards["a2"], amount_fen=100).code == "offline_over_limit:person_day"
        code_record = copy.deepcopy(sim.queue[0]["record"])
        assert code_record["code_step"] is not None
        sim.restore()
        results = sim.upload()
        assert [r["result"] for r in results] == ["applied", "applied"]
        # The same code step again, signed by the terminal: refused as a replay.
        rec = {**code_record, "seq": 3, "txn_id": "T-A1-off-99"}
        assert upload_raw(client, w, [signed(sim.key, rec)])[0]["code"] == "offline_replayed"
    assert purse(ctx, w, "a1") == (16_000, 0)
    ledger_ok(ctx)


def test_a_record_taken_too_long_after_the_last_refresh_is_refused(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        assert sim.sell(w.cards["a1"], amount_fen=500).result == "approved"
        # A till whose clock claims a sale 25 hours after its refresh: it would not
        # have sold it (offline_hours) — signed anyway, the server refuses it.
        late = {
            **sim.queue[0]["record"],
            "seq": 2,
            "txn_id": "T-A1-off-2",
            "taken_at": (ctx.clock.now() + timedelta(hours=25)).isoformat(timespec="seconds"),
        }
        ctx.clock.set(ctx.clock.now() + timedelta(hours=26))  # type: ignore[attr-defined]
        got = upload_raw(client, w, [sim.queue[0], signed(sim.key, late)])
    assert [r["result"] for r in got] == ["applied", "refused"]
    assert "offline_hours" in got[1]["message"]
    assert purse(ctx, w, "a1") == (4_500, 0)
    ledger_ok(ctx)


def test_a_record_of_a_closed_quarter_goes_to_the_first_open_one(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=2_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        assert sim.sell(w.cards["a1"], meal="lunch").result == "approved"
        # The network stays down past the quarter's close.
        ctx.clock.set(ctx.clock.now() + timedelta(hours=2))  # type: ignore[attr-defined]
        with ctx.db.begin() as conn:
            close_period(conn, "2026Q1", "test", ctx.clock.now())
        sim.restore()
        [result] = sim.upload()
    assert result["result"] == "applied" and result["period"] == "2026Q2"
    with ctx.db.read() as conn:
        period, business_date = conn.execute(
            select(JournalEntry.period, Payment.business_date).join(
                Payment, Payment.entry_id == JournalEntry.id
            )
        ).one()
    assert (period, business_date) == ("2026Q2", date(2026, 3, 10))
    assert purse(ctx, w, "a1") == (1_700, 0)
    ledger_ok(ctx)


def test_a_short_purse_becomes_a_debt_recovered_from_the_next_allocation(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        assert sim.sell(w.cards["a1"], amount_fen=400).result == "approved"
        # Meanwhile a1 pays online at the other canteen.
        paid = pay(ctx, w.terminals["B"], PaymentRequest("b-1", w.cards["a1"], amount_fen=900))
        assert paid.approved and purse(ctx, w, "a1") == (100, 0)
        sim.restore()
        [result] = sim.upload()
    assert result["result"] == "applied" and result["debt_fen"] == 300
    assert purse(ctx, w, "a1") == (0, 0)
    [debt] = unit_debts(ctx, w.units["A"])
    assert (debt.name, debt.outstanding_fen) == ("张伟", 300)
    assert debt_balance(ctx, w) == -300
    ledger_ok(ctx)

    # The next allocation pays a1 their share less what they owe.
    with ctx.db.begin() as conn:
        post(
            conn,
            region_id=w.region,
            kind="test_fund",
            key="unit-A-pays",
            legs=[
                Leg(system_account(conn, "bank_clearing"), -200_000),
                Leg(account_id(conn, "unit", w.units["A"], "unit_income"), 200_000),
            ],
            actor="test",
            booked_at=ctx.clock.now(),
        )
    issue_notices(ctx, BUREAU, "2026Q1")
    res = distribution.distribute(ctx, BUREAU, w.units["A"], "2026Q1")
    assert res.totals["debt_recovered_fen"] == 300
    assert purse(ctx, w, "a1") == (60_000 - 300, 0)
    assert purse(ctx, w, "a2") == (60_000, 0)
    assert debt_balance(ctx, w) == 0 and unit_debts(ctx, w.units["A"]) == []
    with ctx.db.read() as conn:
        assert conn.execute(select(OfflineDebt.recovered_fen)).scalar_one() == 300
    # Running it again pays and recovers nothing twice.
    distribution.distribute(ctx, BUREAU, w.units["A"], "2026Q1")
    assert purse(ctx, w, "a1") == (60_000 - 300, 0)
    ledger_ok(ctx)


def debt_balance(ctx: Context, w: World) -> int:
    from onecard.ledger.service import balances

    with ctx.db.read() as conn:
        acct = conn.execute(
            select(Account.id).where(
                Account.owner_kind == "person",
                Account.owner_id == w.people["a1"],
                Account.kind == "offline_debt",
            )
        ).scalar_one()
        return balances(conn, [acct])[acct]


def test_the_same_batch_sent_twice_at_once_is_applied_once(pg_ctx: Context) -> None:
    """Two connections upload one batch concurrently (a till retrying while its first
    attempt is still in flight): the terminal's row serialises them."""
    import threading

    from onecard.terminals import service

    ctx = pg_ctx
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        for _ in range(3):
            assert sim.sell(w.cards["a1"], amount_fen=300).result == "approved"
    items = [service.Signed(r["record"], r["body_hash"], r["signature"]) for r in sim.queue]
    answers: list[list[dict[str, object]]] = []
    start = threading.Barrier(2)

    def send() -> None:
        start.wait(timeout=10)
        answers.append(service.upload(ctx, w.terminals["A"], items))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(answers) == 2
    assert sorted({r["result"] for r in a}.pop() for a in answers) == ["applied", "duplicate"]
    assert purse(ctx, w, "a1") == (4_100, 0)
    assert written(ctx)[1:] == (3, 3)
    ledger_ok(ctx)
