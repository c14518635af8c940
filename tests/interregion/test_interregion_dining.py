"""Cross-region dining (issue 17 §2): a county keeping its own fund, its people paying at
the city's canteens under a dining agreement, and the quarter's clearing statement —
computed by hand to the fen, confirmed by both sides, booked once, paid by the bank."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from onecard.channels.bank import Notification
from onecard.channels.sandbox import SandboxBank
from onecard.core.context import Context
from onecard.core.errors import Forbidden, ForeignRegion, InvalidInput, StateConflict
from onecard.funding import notifications as funding_notifications
from onecard.interregion import queries, service
from onecard.interregion.models import Statement
from onecard.ledger.models import JournalEntry
from onecard.ledger.service import (
    Leg,
    account_id,
    derived_balance,
    open_system_accounts,
    post,
    system_account,
)
from onecard.ledger.verify import verify
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.org.models import Person, Region
from onecard.pay import paycode
from onecard.pay.reversal import reverse
from onecard.pay.service import PaymentRequest, pay
from world import World, build_world, purse

SYSTEM = Actor.system("test")
HOST_ACCOUNT = "62270000000000000088"


@dataclass
class County:
    region: int
    units: dict[str, int]
    people: dict[str, int]
    cards: dict[str, str]


def county_world(ctx: Context) -> tuple[World, County]:
    """The test city, and a county below it that keeps its own fund: two units, three
    people funded from the county's own dining money, a canteen of its own."""
    from onecard.pay.cards import issue_card_conn

    w = build_world(ctx)
    with ctx.db.begin() as conn:
        rid = b.create_region(conn, "431021", "桂阳县", "county", w.region)
        conn.execute(update(Region).where(Region.id == rid).values(own_fund=True))
        open_system_accounts(conn, rid, top=False)
        c = County(rid, {}, {}, {})
        c.units["K"] = b.create_unit(conn, rid, "K001", "县财政局")
        c.units["L"] = b.create_unit(conn, rid, "K002", "县教育局")
        b.create_canteen(conn, rid, c.units["K"], "K-C1", "县机关食堂", operation="self")
        bank = system_account(conn, "bank_clearing", rid)
        for key, unit, name in (
            ("k1", "K", "赵县一"),
            ("k2", "K", "钱县二"),
            ("l1", "L", "孙县三"),
        ):
            pid = b.create_person(conn, rid, c.units[unit], f"S{key}", name)
            c.people[key] = pid
            c.cards[key] = issue_card_conn(conn, ctx, pid)
            for kind, amt in (("subsidy", 700), ("cash", 2000)):
                post(
                    conn,
                    region_id=rid,
                    kind="test_fund",
                    key=f"fund:{key}:{kind}",
                    legs=[Leg(bank, -amt), Leg(account_id(conn, "person", pid, kind), amt)],
                    actor="test",
                    booked_at=ctx.clock.now(),
                )
    return w, c


def agree(ctx: Context, w: World, c: County, *, accept: bool = True, **kw: Any) -> int:
    terms = service.AgreementIn(
        home_region_id=c.region,
        host_region_id=w.region,
        price_class=kw.pop("price_class", "visitor"),
        purse=kw.pop("purse", "subsidy_first"),
        valid_from=kw.pop("valid_from", date(2026, 1, 1)),
        host_account_no=HOST_ACCOUNT,
        host_account_name="郴州市机关事务管理局",
        **kw,
    )
    aid = service.propose(ctx, SYSTEM, "home", terms)
    if accept:
        assert service.move(ctx, SYSTEM, aid, "accept", "host") == "accepted"
    return aid


def lunch(ctx: Context, w: World, c: County, who: str, canteen: str, txn: str) -> dict[str, Any]:
    req = PaymentRequest(txn, c.cards[who], meal="lunch")
    return dict(pay(ctx, w.terminals[canteen], req).data)


def people_purse(ctx: Context, pid: int) -> tuple[int, int]:
    from onecard.ledger.service import balances

    with ctx.db.read() as conn:
        s = account_id(conn, "person", pid, "subsidy")
        k = account_id(conn, "person", pid, "cash")
        got = balances(conn, [s, k])
    return got[s], got[k]


def bank_with_money(ctx: Context) -> SandboxBank:
    """The sandbox bank, its expenditure account holding what the county pays out."""
    from onecard.channels.bank import EXPENDITURE_ACCOUNT

    bank = ctx.bank
    assert isinstance(bank, SandboxBank)
    bank.open_outside_account("99991111", "县财政", 100_000)
    bank.credit_from_outside("99991111", EXPENDITURE_ACCOUNT, 100_000, "县就餐资金")
    return bank


def ledger_ok(ctx: Context) -> None:
    with ctx.db.read() as conn:
        rep = verify(conn)
        assert rep.ok, rep.problems
        assert service.clearing_problems(conn) == []


@pytest.fixture
def cw(ctx: Context) -> Iterator[tuple[Context, World, County]]:
    w, c = county_world(ctx)
    yield ctx, w, c


# --- deciding ---------------------------------------------------------------------------
def test_without_an_agreement_a_county_person_is_refused_foreign_region(cw: Any) -> None:
    ctx, w, c = cw
    got = lunch(ctx, w, c, "k1", "A", "no-agreement")
    assert (got["result"], got["code"]) == ("refused", "foreign_region")
    assert people_purse(ctx, c.people["k1"]) == (700, 2000)
    # A proposal the city has not accepted is no agreement either.
    agree(ctx, w, c, accept=False)
    got = lunch(ctx, w, c, "k1", "A", "proposed-only")
    assert got["code"] == "foreign_region"
    # The city's own people still eat at their own price, as before.
    fund_city = purse(ctx, w, "a1")
    assert fund_city == (0, 0)
    ledger_ok(ctx)


def test_under_an_agreement_the_price_class_and_purse_are_the_agreements(cw: Any) -> None:
    ctx, w, c = cw
    agree(ctx, w, c)  # visitor price, subsidy then cash
    got = lunch(ctx, w, c, "k1", "A", "visitor-lunch")
    assert got["result"] == "approved", got
    # Canteen A's lunch: own 300, visitor 500 — the visitor price; subsidy 700 first.
    assert (got["amount_fen"], got["subsidy_fen"], got["cash_fen"]) == (500, 500, 0)
    assert got["diner_class"] == "visitor"
    got = lunch(ctx, w, c, "k1", "B", "visitor-lunch-b")  # B: visitor 600 → 200 + 400
    assert (got["amount_fen"], got["subsidy_fen"], got["cash_fen"]) == (600, 200, 400)
    assert people_purse(ctx, c.people["k1"]) == (0, 1600)
    # Each fund region's half balances: the county owes 1,100, the city is owed 1,100.
    with ctx.db.read() as conn:
        owed = derived_balance(conn, system_account(conn, "region_due", c.region))
        due = derived_balance(conn, system_account(conn, "region_due", w.region))
    assert (owed, due) == (1100, -1100)
    ledger_ok(ctx)


def test_a_staff_price_from_cash_only(cw: Any) -> None:
    ctx, w, c = cw
    agree(ctx, w, c, price_class="own", purse="cash")
    got = lunch(ctx, w, c, "k2", "A", "own-cash")
    assert (got["amount_fen"], got["subsidy_fen"], got["cash_fen"]) == (300, 0, 300)
    assert got["diner_class"] == "own"
    assert people_purse(ctx, c.people["k2"]) == (700, 1700)


def test_subsidy_only_refuses_what_the_subsidy_cannot_pay(cw: Any) -> None:
    ctx, w, c = cw
    agree(ctx, w, c, purse="subsidy")
    assert lunch(ctx, w, c, "k1", "B", "s1")["subsidy_fen"] == 600  # 700 → 100 left
    got = lunch(ctx, w, c, "k1", "A", "s2")  # 500 > 100 subsidy; cash 2000 not usable
    assert got["code"] == "insufficient_funds"


def test_units_canteens_and_dates_outside_the_agreement_are_refused(cw: Any) -> None:
    ctx, w, c = cw
    aid = agree(ctx, w, c, unit_ids=[c.units["K"]], canteen_ids=[w.canteens["A"]])
    assert lunch(ctx, w, c, "k1", "A", "in")["result"] == "approved"
    assert lunch(ctx, w, c, "l1", "A", "other-unit")["code"] == "foreign_region"
    assert lunch(ctx, w, c, "k1", "B", "other-canteen")["code"] == "foreign_region"
    assert service.move(ctx, SYSTEM, aid, "suspend", "host") == "suspended"
    assert lunch(ctx, w, c, "k1", "A", "suspended")["code"] == "foreign_region"
    assert service.move(ctx, SYSTEM, aid, "resume", "home") == "accepted"
    assert lunch(ctx, w, c, "k2", "A", "resumed")["result"] == "approved"
    assert service.move(ctx, SYSTEM, aid, "end", "home") == "ended"
    assert lunch(ctx, w, c, "k2", "A", "ended")["code"] == "foreign_region"
    with pytest.raises(StateConflict):
        service.move(ctx, SYSTEM, aid, "resume", "host")
    # An agreement that ended yesterday (valid_to) does not cover today (10 March).
    agree(ctx, w, c, valid_from=date(2026, 1, 1), valid_to=date(2026, 3, 9))
    assert lunch(ctx, w, c, "k2", "A", "expired")["code"] == "foreign_region"
    ledger_ok(ctx)


def test_the_proposer_cannot_accept_its_own_proposal(cw: Any) -> None:
    ctx, w, c = cw
    aid = agree(ctx, w, c, accept=False)
    with pytest.raises(Forbidden):
        service.move(ctx, SYSTEM, aid, "accept", "home")
    diner = Actor("diner")
    with pytest.raises(Forbidden):
        service.move(ctx, diner, aid, "accept", "host")


def test_a_code_of_another_network_of_the_deployment_reaches_the_agreement(cw: Any) -> None:
    ctx, w, c = cw
    with ctx.db.begin() as conn:  # the county as another payment network (a province's city)
        conn.execute(update(Region).where(Region.id == c.region).values(network_no="432"))
        token, secret = conn.execute(
            select(Person.paycode_token, Person.paycode_secret).where(Person.id == c.people["k1"])
        ).one()
    at = ctx.clock.now().replace(tzinfo=UTC).timestamp()
    code = paycode.make_code("432", token, secret, at, ctx.settings.paycode_step_seconds)
    got = pay(ctx, w.terminals["A"], PaymentRequest("code-1", code, meal="lunch")).data
    assert (got["result"], got["code"]) == ("refused", "foreign_region")
    assert got["payer"]["name"] == "赵县一"  # the person was found
    agree(ctx, w, c)
    at += ctx.settings.paycode_step_seconds
    ctx.clock.advance(seconds=ctx.settings.paycode_step_seconds)  # type: ignore[attr-defined]
    code = paycode.make_code("432", token, secret, at, ctx.settings.paycode_step_seconds)
    got = pay(ctx, w.terminals["A"], PaymentRequest("code-2", code, meal="lunch")).data
    assert got["result"] == "approved", got
    # A network that is not in this deployment stays foreign (422, nothing recorded).
    code = paycode.make_code("998", token, secret, at, ctx.settings.paycode_step_seconds)
    with pytest.raises(ForeignRegion):
        pay(ctx, w.terminals["A"], PaymentRequest("code-3", code, meal="lunch"))


@pytest.mark.postgres
def test_the_batch_gives_the_single_paths_verdicts(pg_ctx: Context) -> None:
    from onecard.pay.batcher import PaymentBatcher

    w, c = county_world(pg_ctx)
    agree(pg_ctx, w, c, unit_ids=[c.units["K"]], canteen_ids=[w.canteens["A"]])
    cases = [("k1", "A"), ("l1", "A"), ("k1", "B"), ("k1", "A")]
    single = [lunch(pg_ctx, w, c, who, t, f"s{i}") for i, (who, t) in enumerate(cases)]
    # The same payments by a twin (k2: same unit, same purses) through the batch.
    twin = {"k1": "k2", "l1": "l1"}
    batcher = PaymentBatcher(pg_ctx, workers=1, window_ms=300, batch_max=64).start()
    try:
        futs = [
            batcher.submit(
                w.terminals[t], PaymentRequest(f"b{i}", c.cards[twin[who]], meal="lunch")
            )
            for i, (who, t) in enumerate(cases)
        ]
        batched = [json.loads(f.result(timeout=30).body) for f in futs]
    finally:
        batcher.stop()
    keep = ("result", "code", "amount_fen", "subsidy_fen", "cash_fen", "diner_class")
    assert [{k: d.get(k) for k in keep} for d in batched] == [
        {k: d.get(k) for k in keep} for d in single
    ]
    codes = [d.get("code", d["result"]) for d in single]
    assert codes == ["approved", "foreign_region", "foreign_region", "period_limit_reached"]
    ledger_ok(pg_ctx)


# --- clearing --------------------------------------------------------------------------------
def test_the_statement_by_hand_to_the_fen_then_confirmed_booked_once_and_paid(cw: Any) -> None:
    ctx, w, c = cw
    agree(ctx, w, c)
    assert lunch(ctx, w, c, "k1", "A", "p1")["amount_fen"] == 500
    assert lunch(ctx, w, c, "k2", "B", "p2")["amount_fen"] == 600
    assert lunch(ctx, w, c, "l1", "A", "p3")["amount_fen"] == 500
    undone = lunch(ctx, w, c, "l1", "B", "p4")  # reversed at the till: not owed
    assert undone["amount_fen"] == 600
    reverse(ctx, w.terminals["B"], "p4")
    # By hand: K (k1 500 + k2 600) = 1,100; L (l1 500) = 500; gross 1,600 fen.
    # Canteen A: 500 + 500 = 1,000; canteen B: 600.
    sid = service.compute_statement(ctx, SYSTEM, c.region, w.region, "2026Q1")
    s = queries.statement(ctx, sid)
    assert (s["gross_fen"], s["payments"], s["status"]) == (1600, 3, "open")
    assert [(u["unit_id"], u["fen"], u["payments"]) for u in s["per_unit"]] == [
        (c.units["K"], 1100, 2),
        (c.units["L"], 500, 1),
    ]
    assert [(x["canteen_id"], x["fen"]) for x in s["per_canteen"]] == [
        (w.canteens["A"], 1000),
        (w.canteens["B"], 600),
    ]
    # The other direction owes nothing; the same quarter again is the same statement.
    assert service.compute_statement(ctx, SYSTEM, c.region, w.region, "2026Q1") == sid

    # The city confirms; a new payment changes the figures and clears that confirmation.
    assert service.confirm_statement(ctx, SYSTEM, sid, "host") == "open"
    with pytest.raises(StateConflict):
        service.confirm_statement(ctx, SYSTEM, sid, "host")
    with pytest.raises(StateConflict):
        service.book_statement(ctx, SYSTEM, sid)
    assert lunch(ctx, w, c, "k2", "A", "p5")["amount_fen"] == 500
    service.compute_statement(ctx, SYSTEM, c.region, w.region, "2026Q1")
    s = queries.statement(ctx, sid)
    assert (s["gross_fen"], s["host_confirmed_by"]) == (2100, None)
    assert service.confirm_statement(ctx, SYSTEM, sid, "home") == "open"
    assert service.confirm_statement(ctx, SYSTEM, sid, "host") == "confirmed"

    # Excel: money as numbers (yuan), a totals row.
    from onecard.core.tables import to_xlsx

    ws = load_workbook(io.BytesIO(to_xlsx(queries.statement_table(ctx, sid)))).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert (rows[-1][0], rows[-1][2], rows[-1][3]) == ("合计", 4, 21)
    assert [r[3] for r in rows[1:-1]] == [16, 5, 15, 6]  # K, L; canteen A, B (yuan)

    # Booked once: A's bank clearing +2,100, B's −2,100; again: the same entry.
    bank = bank_with_money(ctx)
    bank.open_outside_account(HOST_ACCOUNT, "郴州市机关事务管理局")
    booked = service.book_statement(ctx, SYSTEM, sid)
    assert booked.status == "booked" and booked.order_id == f"IR{sid}-1"
    assert service.book_statement(ctx, SYSTEM, sid) == booked
    with ctx.db.read() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(JournalEntry)
                .where(JournalEntry.kind.like("interregion%"))
            ).scalar_one()
            == 1
        )
        home_c = system_account(conn, "bank_clearing", c.region)
        from onecard.ledger.service import derived_balance

        before_home = derived_balance(conn, home_c)
    ledger_ok(ctx)
    assert lunch(ctx, w, c, "l1", "B", "p6")["result"] == "approved"
    with pytest.raises(StateConflict):  # the figures are final once booked
        service.compute_statement(ctx, SYSTEM, c.region, w.region, "2026Q1")
    assert service.send_payout(ctx, sid) is None
    funding_notifications.deliver_sandbox_notifications(ctx)
    assert queries.statement(ctx, sid)["status"] == "paid"
    assert bank.outside_balance(HOST_ACCOUNT) == 2100
    with ctx.db.read() as conn:
        from onecard.ledger.service import derived_balance

        assert derived_balance(conn, home_c) == before_home  # paid: nothing more booked
    ledger_ok(ctx)


def test_a_failed_payout_is_compensated_and_booked_again(cw: Any) -> None:
    ctx, w, c = cw
    agree(ctx, w, c)
    lunch(ctx, w, c, "k1", "A", "p1")
    sid = service.compute_statement(ctx, SYSTEM, c.region, w.region, "2026Q1")
    service.confirm_statement(ctx, SYSTEM, sid, "home")
    service.confirm_statement(ctx, SYSTEM, sid, "host")
    service.book_statement(ctx, SYSTEM, sid)
    assert service.send_payout(ctx, sid) is None  # no such account at the bank: fails
    # through the bank's ordinary callback path (funding.notifications), as a server gets it
    funding_notifications.deliver_sandbox_notifications(ctx)
    assert queries.statement(ctx, sid)["status"] == "payout_failed"
    with ctx.db.read() as conn:
        kinds = sorted(
            str(k)
            for k in conn.execute(
                select(JournalEntry.kind).where(JournalEntry.kind.like("interregion%"))
            ).scalars()
        )
        assert kinds == ["interregion_clearing", "interregion_unpaid"]
        assert conn.execute(select(Statement.attempts).where(Statement.id == sid)).scalar() == 1
    ledger_ok(ctx)
    bank = bank_with_money(ctx)
    bank.open_outside_account(HOST_ACCOUNT, "郴州市机关事务管理局")
    again = service.book_statement(ctx, SYSTEM, sid)
    assert again.order_id == f"IR{sid}-2"
    # A verdict on another sum is refused, nothing changed (as for funding's payouts).
    forged = Notification(f"IR{sid}-2", "B1", "succeeded", 499, None, ctx.clock.now(), "payout")
    with pytest.raises(InvalidInput):
        funding_notifications.apply_notification(ctx, forged)
    assert queries.statement(ctx, sid)["status"] == "booked"
    service.send_payout(ctx, sid)
    funding_notifications.deliver_sandbox_notifications(ctx)
    assert queries.statement(ctx, sid)["status"] == "paid"
    assert bank.outside_balance(HOST_ACCOUNT) == 500
    ledger_ok(ctx)


def test_the_fund_map_cache_follows_every_change_of_the_regions(ctx: Context) -> None:
    from onecard.pay.interregion import current_fund_map

    w, c = county_world(ctx)
    with ctx.db.read() as conn:
        assert not current_fund_map(conn).single
    with ctx.db.begin() as conn:
        conn.execute(update(Region).where(Region.id == c.region).values(own_fund=False))
    with ctx.db.read() as conn:
        fm = current_fund_map(conn)
        assert fm.single and fm.fund_of[c.region] == w.region
    # One fund region again: the county's people eat at the city's canteens as before.
    got = lunch(ctx, w, c, "k1", "A", "one-fund")
    assert (got["result"], got["diner_class"]) == ("approved", "visitor")
