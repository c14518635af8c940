"""Keeping the dashboard's roll-ups (``reports.models``) current: ``catch_up``.

Contract: ``catch_up(ctx, grace_seconds=GRACE_SECONDS)`` is one transaction that folds
the rows added since the last fold into the roll-ups and moves the watermarks; it never
touches the payment path (no trigger, no write per payment) and is safe to call from any
number of readers at once (the watermark rows are locked; a second caller waits and then
finds nothing to fold). Three insert-only sources, each with its own watermark on its id:
- ``payments``: every payment that moved money (approved, or approved and since
  reversed) counts once, for its full amount, in its own business day — a back-dated
  offline upload lands in the day it was made, whatever day it arrives;
- ``reversals``: each reversal's journal entry (kind ``reversal``, key
  ``reversal:<payment id>``) takes that payment out again (−1 payment, −amount);
- ``refunds``: each refund takes its amount off the payment's day, canteen and unit;
- every fact also carries its meal code (the canteen's meal period; ``''`` for shop
  goods), folded into ``report_meals`` and ``report_meal_days`` (the per-capita report);
- e-CNY meals (a guest's own wallet, no ``payments`` row) through their insert-only
  journal entries on the reversals' watermark: ``ecny_payment`` (+1) and ``ecny_refund``.
The journal's watermark also folds the distribution entries' credits to people's subsidy
purses into ``report_funds`` (per accounting period) and, per person, ``report_diners``
(a region's subsidy figures, issue 17 §1).
So the roll-ups equal the live GROUP BY over approved payments net of refunds whatever
order the three arrive in (a reversal folded before or after its payment sums the same).

Which ids are safe to fold: a sequence hands out ids in time order, but a transaction
may commit after a later id is already visible; folding past it would lose it for good.
So the fold goes up to the largest id seen ``grace_seconds`` ago (by then every
transaction that held a smaller id has committed or rolled back: payments take
milliseconds), and notes the largest id now for the next fold. It folds up to the
largest id now when nothing else can be writing: on SQLite (one writer at a time), on
PostgreSQL when no other transaction holds a transaction id, or when the caller says so
(``grace_seconds=0``: a bulk load, a test, ``onecard reports catch-up --now`` on a quiet
database). The dashboard therefore trails the payments by up to about twice the grace
(it shows the time of its last fold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Subquery,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onecard.core.clock import next_quarter, quarter_bounds, quarter_of, to_local
from onecard.core.context import Context
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.pay.models import EcnyOrder, EcnyRefund, MealPeriod, Payment, Refund
from onecard.reports.models import (
    LUNCH_SLOTS,
    SOURCES,
    ReportCanteen,
    ReportCanteenSlot,
    ReportDay,
    ReportDiner,
    ReportFund,
    ReportMeal,
    ReportMealDay,
    ReportPair,
    ReportSlot,
    ReportUnit,
    ReportWatermark,
)
from onecard.terminals.queries import debt_by_payment

GRACE_SECONDS = 120
SLOT_MINUTES = 5
_REVERSAL_KEY = "reversal:"


@dataclass
class CatchUp:
    """What one fold did: per source the ids folded (after, up to], and when."""

    folded: dict[str, tuple[int, int]] = field(default_factory=dict)
    at: datetime | None = None

    @property
    def rows(self) -> int:
        return sum(hi - lo for lo, hi in self.folded.values())


def _source_max(conn: Connection, source: str) -> int:
    if source == "payments":
        q = select(func.max(Payment.id))
    elif source == "refunds":
        q = select(func.max(Refund.id))
    else:
        q = select(func.max(JournalEntry.id))
    return int(conn.execute(q).scalar() or 0)


def _quiet(conn: Connection) -> bool:
    """Can no other transaction be holding an id not yet visible? (see the contract)"""
    if conn.dialect.name != "postgresql":
        return True
    busy = conn.execute(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
        )
    ).scalar()
    return not busy


def _delta(lo: dict[str, int], hi: dict[str, int]) -> Subquery:
    """The signed facts between the watermarks: one row per payment (+1), reversal (−1)
    and refund (0 payments, −amount), each with the payment's keys."""
    cols = (
        Payment.business_date,
        Payment.created_at,
        Payment.canteen_id,
        func.coalesce(Payment.home_unit_id, 0).label("home_unit_id"),
        Payment.person_id,
        func.coalesce(Payment.diner_class, "").label("diner_class"),
        func.coalesce(MealPeriod.code, "").label("meal"),
    )
    meal = (MealPeriod, MealPeriod.id == Payment.meal_period_id)
    # An offline payment's debt part was booked for the canteen too (reports.dashboard).
    debts = debt_by_payment()
    debt = func.coalesce(debts.c.debt_fen, 0)
    pays = (
        select(
            *cols,
            literal(1).label("n"),
            (Payment.amount_fen + debt).label("amount"),
            Payment.subsidy_fen.label("subsidy"),
            literal(0).label("rev"),
        )
        .outerjoin(debts, debts.c.payment_id == Payment.id)
        .outerjoin(*meal)
        .where(
            Payment.id > lo["payments"],
            Payment.id <= hi["payments"],
            Payment.status.in_(("approved", "reversed")),
        )
    )
    paid_id = cast(func.substr(JournalEntry.idempotency_key, len(_REVERSAL_KEY) + 1), BigInteger)
    revs = (
        select(
            *cols,
            literal(-1).label("n"),
            (-(Payment.amount_fen + debt)).label("amount"),
            (-Payment.subsidy_fen).label("subsidy"),
            literal(1).label("rev"),
        )
        .select_from(JournalEntry)
        .join(Payment, Payment.id == paid_id)
        .outerjoin(debts, debts.c.payment_id == Payment.id)
        .outerjoin(*meal)
        .where(
            JournalEntry.id > lo["reversals"],
            JournalEntry.id <= hi["reversals"],
            JournalEntry.kind == "reversal",
        )
    )
    refunds = (
        select(
            *cols,
            literal(0).label("n"),
            (-Refund.amount_fen).label("amount"),
            (-Refund.subsidy_fen).label("subsidy"),
            literal(0).label("rev"),
        )
        .select_from(Refund)
        .join(Payment, Payment.id == Refund.payment_id)
        .outerjoin(*meal)
        .where(Refund.id > lo["refunds"], Refund.id <= hi["refunds"])
    )
    return union_all(pays, revs, refunds, *_ecny_delta(lo, hi)).subquery("d")


def _ecny_delta(lo: dict[str, int], hi: dict[str, int]) -> tuple[Any, Any]:
    """e-CNY meals (a guest's own wallet: no payments row) through their journal entries,
    which are insert-only like the reversals and share their watermark: an order's
    ``ecny_payment`` entry (+1, its amount, no subsidy, no home unit) and each
    ``ecny_refund`` entry (−amount on the order's day and canteen). The order row itself
    changes state (pending → succeeded), so it cannot carry a watermark of its own."""
    cols = (
        EcnyOrder.business_date,
        EcnyOrder.created_at,
        EcnyOrder.canteen_id,
        literal(0).label("home_unit_id"),
        EcnyOrder.person_id,
        func.coalesce(EcnyOrder.diner_class, "guest").label("diner_class"),
        func.coalesce(MealPeriod.code, "").label("meal"),
    )
    meal = (MealPeriod, MealPeriod.id == EcnyOrder.meal_period_id)
    window = (JournalEntry.id > lo["reversals"], JournalEntry.id <= hi["reversals"])
    pays = (
        select(
            *cols,
            literal(1).label("n"),
            EcnyOrder.amount_fen.label("amount"),
            literal(0).label("subsidy"),
            literal(0).label("rev"),
        )
        .select_from(JournalEntry)
        .join(EcnyOrder, EcnyOrder.entry_id == JournalEntry.id)
        .outerjoin(*meal)
        .where(*window, JournalEntry.kind == "ecny_payment", EcnyOrder.kind == "payment")
    )
    refunds = (
        select(
            *cols,
            literal(0).label("n"),
            (-EcnyRefund.amount_fen).label("amount"),
            literal(0).label("subsidy"),
            literal(0).label("rev"),
        )
        .select_from(JournalEntry)
        .join(EcnyRefund, EcnyRefund.entry_id == JournalEntry.id)
        .join(EcnyOrder, EcnyOrder.id == EcnyRefund.order_id)
        .outerjoin(*meal)
        .where(*window, JournalEntry.kind == "ecny_refund", EcnyOrder.kind == "payment")
    )
    return pays, refunds


def _insert(conn: Connection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def _add_into(conn: Connection, model: Any, keys: list[str], sums: list[str], q: Any) -> None:
    """INSERT … SELECT … ON CONFLICT (keys) DO UPDATE SET each sum += the new one."""
    table = model.__table__
    stmt = _insert(conn, table).from_select(keys + sums, q)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={s: table.c[s] + getattr(stmt.excluded, s) for s in sums},
    )
    conn.execute(stmt)


def _fold(conn: Connection, d: Subquery) -> None:
    span = conn.execute(select(func.min(d.c.business_date), func.max(d.c.business_date))).one()
    if span[0] is None:
        return
    first, last = _as_date(span[0]), _as_date(span[1])
    in_span = (d.c.business_date >= first, d.c.business_date <= last)
    _add_into(
        conn,
        ReportDay,
        ["business_date", "diner_class"],
        ["payments", "amount_fen", "subsidy_fen", "reversals"],
        select(
            d.c.business_date,
            d.c.diner_class,
            func.sum(d.c.n),
            func.sum(d.c.amount),
            func.sum(d.c.subsidy),
            func.sum(d.c.rev),
        )
        .where(*in_span)
        .group_by(d.c.business_date, d.c.diner_class),
    )
    _fold_slots(conn, d, in_span)
    _add_into(
        conn,
        ReportMealDay,
        ["business_date", "canteen_id", "meal"],
        ["payments", "amount_fen"],
        select(d.c.business_date, d.c.canteen_id, d.c.meal, func.sum(d.c.n), func.sum(d.c.amount))
        .where(*in_span)
        .group_by(d.c.business_date, d.c.canteen_id, d.c.meal),
    )
    q = quarter_of(first)
    while q <= quarter_of(last):
        start, end = quarter_bounds(q)
        where = (d.c.business_date >= start, d.c.business_date < end)
        ql = literal(q)
        _add_into(
            conn,
            ReportCanteen,
            ["quarter", "canteen_id", "diner_class"],
            ["payments", "amount_fen", "reversals"],
            select(
                ql,
                d.c.canteen_id,
                d.c.diner_class,
                func.sum(d.c.n),
                func.sum(d.c.amount),
                func.sum(d.c.rev),
            )
            .where(*where)
            .group_by(d.c.canteen_id, d.c.diner_class),
        )
        _add_into(
            conn,
            ReportMeal,
            ["quarter", "canteen_id", "meal", "diner_class"],
            ["payments", "amount_fen"],
            select(
                ql, d.c.canteen_id, d.c.meal, d.c.diner_class, func.sum(d.c.n), func.sum(d.c.amount)
            )
            .where(*where)
            .group_by(d.c.canteen_id, d.c.meal, d.c.diner_class),
        )
        _add_into(
            conn,
            ReportUnit,
            ["quarter", "home_unit_id"],
            ["payments", "amount_fen"],
            select(ql, d.c.home_unit_id, func.sum(d.c.n), func.sum(d.c.amount))
            .where(*where)
            .group_by(d.c.home_unit_id),
        )
        _add_into(
            conn,
            ReportPair,
            ["quarter", "home_unit_id", "canteen_id"],
            ["payments", "amount_fen"],
            select(ql, d.c.home_unit_id, d.c.canteen_id, func.sum(d.c.n), func.sum(d.c.amount))
            .where(*where)
            .group_by(d.c.home_unit_id, d.c.canteen_id),
        )
        _add_into(
            conn,
            ReportDiner,
            ["quarter", "person_id"],
            ["payments", "subsidy_fen"],
            select(ql, d.c.person_id, func.sum(d.c.n), func.sum(d.c.subsidy))
            .where(*where, d.c.person_id.is_not(None), or_(d.c.n != 0, d.c.subsidy != 0))
            .group_by(d.c.person_id),
        )
        q = next_quarter(q)


def _fold_funds(conn: Connection, lo: int, hi: int) -> None:
    """Distribution entries in the journal's (lo, hi]: their credits to subsidy purses,
    per quarter and per quarter × person."""
    credits = (
        select(
            JournalEntry.period.label("quarter"),
            Account.owner_id.label("person_id"),
            Posting.amount.label("amount"),
        )
        .select_from(JournalEntry)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            JournalEntry.id > lo,
            JournalEntry.id <= hi,
            JournalEntry.kind == "distribution",
            Account.owner_kind == "person",
            Account.kind == "subsidy",
        )
        .subquery("credits")
    )
    _add_into(
        conn,
        ReportFund,
        ["quarter"],
        ["distributed_fen"],
        select(credits.c.quarter, func.sum(credits.c.amount)).group_by(credits.c.quarter),
    )
    _add_into(
        conn,
        ReportDiner,
        ["quarter", "person_id"],
        ["distributed_fen"],
        select(credits.c.quarter, credits.c.person_id, func.sum(credits.c.amount)).group_by(
            credits.c.quarter, credits.c.person_id
        ),
    )


def _epoch_bucket(conn: Connection, at: Any) -> ColumnElement[Any]:
    """The UTC five-minute bucket of a naive-UTC timestamp (seconds since 1970 // 300)."""
    if conn.dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", at) / (SLOT_MINUTES * 60)), BigInteger)
    return cast(func.strftime("%s", at), Integer) / (SLOT_MINUTES * 60)


def _fold_slots(conn: Connection, d: Subquery, in_span: tuple[Any, ...]) -> None:
    # Grouped by UTC bucket in SQL (a few hundred rows a day), turned into the city's
    # local time here, so the zone's rules (``core.clock``) decide, not a fixed offset.
    # The lunch window's slots are also kept per canteen (a region's rush chart).
    bucket = _epoch_bucket(conn, d.c.created_at).label("bucket")
    rows = conn.execute(
        select(d.c.business_date, d.c.canteen_id, bucket, func.sum(d.c.n))
        .where(*in_span)
        .group_by(d.c.business_date, d.c.canteen_id, bucket)
    ).all()
    per: dict[tuple[date, int], int] = {}
    per_canteen: dict[tuple[date, int, int], int] = {}
    epoch = datetime(1970, 1, 1)
    lo, hi = LUNCH_SLOTS
    for day, canteen_id, b, n in rows:
        local = to_local(epoch + timedelta(seconds=int(b) * SLOT_MINUTES * 60))
        key = (_as_date(day), local.hour * 60 + local.minute)
        per[key] = per.get(key, 0) + int(n)
        if lo <= key[1] < hi:
            ck = (key[0], int(canteen_id), key[1])
            per_canteen[ck] = per_canteen.get(ck, 0) + int(n)
    _add_slots(
        conn,
        ReportSlot,
        ["business_date", "slot"],
        [{"business_date": k[0], "slot": k[1], "payments": n} for k, n in per.items()],
    )
    _add_slots(
        conn,
        ReportCanteenSlot,
        ["business_date", "canteen_id", "slot"],
        [
            {"business_date": k[0], "canteen_id": k[1], "slot": k[2], "payments": n}
            for k, n in per_canteen.items()
        ],
    )


def _add_slots(conn: Connection, model: Any, keys: list[str], values: list[dict[str, Any]]) -> None:
    if not values:
        return
    table = model.__table__
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={"payments": table.c.payments + stmt.excluded.payments}
    )
    conn.execute(stmt, values)


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def catch_up(ctx: Context, grace_seconds: float = GRACE_SECONDS) -> CatchUp:
    """Fold what is safe to fold into the roll-ups (see the contract); one transaction."""
    now = ctx.clock.now()
    out = CatchUp(at=now)
    with ctx.db.begin() as conn:
        marks = {
            m.source: m
            for m in conn.execute(
                select(ReportWatermark).where(ReportWatermark.source.in_(SOURCES)).with_for_update()
            )
        }
        missing = [s for s in SOURCES if s not in marks]
        if missing:
            conn.execute(
                _insert(conn, ReportWatermark.__table__)
                .values([{"source": s, "done_id": 0} for s in missing])
                .on_conflict_do_nothing()
            )
            marks = {
                m.source: m
                for m in conn.execute(select(ReportWatermark).with_for_update())
                if m.source in SOURCES
            }
        seen = {s: _source_max(conn, s) for s in SOURCES}
        lo = {s: int(marks[s].done_id) for s in SOURCES}
        if grace_seconds <= 0 or _quiet(conn):
            hi = seen
        else:
            due = now - timedelta(seconds=grace_seconds)
            hi = {
                s: int(m.pending_id)
                if m.pending_id is not None and m.pending_at is not None and m.pending_at <= due
                else lo[s]
                for s, m in marks.items()
            }
        hi = {s: max(lo[s], hi[s]) for s in SOURCES}
        if hi != lo:
            _fold(conn, _delta(lo, hi))
        if hi["reversals"] != lo["reversals"]:
            _fold_funds(conn, lo["reversals"], hi["reversals"])
        for s in SOURCES:
            m = marks[s]
            values: dict[str, Any] = {}
            if hi[s] != lo[s]:
                values |= {"done_id": hi[s], "folded_at": now}
                out.folded[s] = (lo[s], hi[s])
            if seen[s] > hi[s]:
                # The candidate for the next fold: kept while it waits out its grace.
                if m.pending_id is None or m.pending_id <= hi[s]:
                    values |= {"pending_id": seen[s], "pending_at": now}
            elif m.pending_id is not None:
                values |= {"pending_id": None, "pending_at": None}
            if m.folded_at is None and "folded_at" not in values:
                values["folded_at"] = now
            if values:
                conn.execute(
                    update(ReportWatermark).where(ReportWatermark.source == s).values(**values)
                )
    return out
