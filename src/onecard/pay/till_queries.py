"""Read models for the canteen till: the day's payments at a terminal and its shift report.

Contract:
- ``day_payments(ctx, terminal, day, limit)`` — the payments the terminal took on the
  Beijing business day ``day`` that moved money (approved, or since reversed), newest
  first, at most ``limit``; each says whether it may still be reversed
  (``pay.reversal.reversible``: approved, not refunded, inside the reversal window — the
  same rule ``reverse`` enforces, so a button shown is a reversal the server accepts),
  and who took it at the browser till (``cashier``; ``face_attested`` when they vouched
  for a face) — none for a payment the terminal's own API took.
- ``shift_report(ctx, terminal, day)`` — the day's approved payments at the terminal
  counted and summed by meal period (payments by amount or item lines have no period:
  one line "按金额/商品"), by purse and by cashier (``pay.cashiers``), plus what was
  reversed and refunded. Its totals are sums over the same rows ``day_payments`` lists,
  computed by the database.
Both read through the ``(canteen_id, business_date)`` index of ``payments``.
- ``till_canteens(ctx, actor)`` — the canteens the actor manages (may run a till for).
- ``till_terminal(ctx, canteen_id)`` — the terminal the till acts as.
- ``meal_board(ctx, canteen_id)`` / ``sold_items(ctx, canteen_id)`` — what the till
  offers: meal periods with prices, and the active dishes and goods sold by line.
Times stay as stored (a payment's ``created_at`` in naive UTC, a meal period's wall-clock
``starts``/``ends``); the page writes them through ``core.clock.local_text`` (the
``local`` filter), the one way a time is shown, in Beijing time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import aliased

from onecard.catalogue.models import Item
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import StateConflict
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person, Terminal, Unit
from onecard.pay.models import MealPeriod, MealPrice, Payment, PaymentCashier
from onecard.pay.reversal import reversible
from onecard.pay.service import TerminalIdentity

Cashier = aliased(Person)  # who took a browser-till payment (``pay.cashiers``)


def _at_terminal(terminal: TerminalIdentity, day: date) -> list[Any]:
    return [
        Payment.canteen_id == terminal.canteen_id,
        Payment.business_date == day,
        Payment.terminal_id == terminal.id,
    ]


def day_payments(
    ctx: Context, terminal: TerminalIdentity, day: date, limit: int = 100
) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                Payment.id,
                Payment.txn_id,
                Payment.created_at,
                Payment.status,
                Payment.amount_fen,
                Payment.subsidy_fen,
                Payment.cash_fen,
                Payment.refunded_fen,
                Payment.diner_class,
                MealPeriod.name.label("meal"),
                Person.name.label("payer"),
                Unit.name.label("unit"),
                Cashier.name.label("cashier"),
                PaymentCashier.face_attested,
            )
            .outerjoin(MealPeriod, MealPeriod.id == Payment.meal_period_id)
            .outerjoin(Person, Person.id == Payment.person_id)
            .outerjoin(Unit, Unit.id == Person.unit_id)
            .outerjoin(PaymentCashier, PaymentCashier.payment_id == Payment.id)
            .outerjoin(Cashier, Cashier.id == PaymentCashier.cashier_id)
            .where(*_at_terminal(terminal, day), Payment.status.in_(("approved", "reversed")))
            .order_by(Payment.id.desc())
            .limit(limit)
        ).all()
    now = ctx.clock.now()
    return [
        {
            **r._mapping,
            "reversible": reversible(ctx, r.status, r.created_at, r.refunded_fen, now),
        }
        for r in rows
    ]


@dataclass
class ShiftReport:
    day: date
    count: int = 0
    total_fen: int = 0
    subsidy_fen: int = 0
    cash_fen: int = 0
    refunded_fen: int = 0
    reversed_count: int = 0
    reversed_fen: int = 0
    by_meal: list[dict[str, Any]] = field(default_factory=list)
    # Per cashier (``None``: the terminal's own API, no person at a browser till).
    by_cashier: list[dict[str, Any]] = field(default_factory=list)

    @property
    def net_fen(self) -> int:
        """What the shift took, less what was refunded since."""
        return self.total_fen - self.refunded_fen


def shift_report(ctx: Context, terminal: TerminalIdentity, day: date) -> ShiftReport:
    sums = (
        func.count(),
        func.coalesce(func.sum(Payment.amount_fen), 0),
        func.coalesce(func.sum(Payment.subsidy_fen), 0),
        func.coalesce(func.sum(Payment.cash_fen), 0),
        func.coalesce(func.sum(Payment.refunded_fen), 0),
    )
    with ctx.db.read() as conn:
        meals = conn.execute(
            select(Payment.meal_period_id, MealPeriod.name, MealPeriod.starts, *sums)
            .outerjoin(MealPeriod, MealPeriod.id == Payment.meal_period_id)
            .where(*_at_terminal(terminal, day), Payment.status == "approved")
            .group_by(Payment.meal_period_id, MealPeriod.name, MealPeriod.starts)
        ).all()
        cashiers = conn.execute(
            select(
                Cashier.name,
                func.count(),
                func.coalesce(func.sum(Payment.amount_fen), 0),
                func.coalesce(func.sum(case((PaymentCashier.face_attested, 1), else_=0)), 0),
            )
            .outerjoin(PaymentCashier, PaymentCashier.payment_id == Payment.id)
            .outerjoin(Cashier, Cashier.id == PaymentCashier.cashier_id)
            .where(*_at_terminal(terminal, day), Payment.status == "approved")
            .group_by(PaymentCashier.cashier_id, Cashier.name)
            .order_by(Cashier.name)
        ).all()
        rev_count, rev_fen = conn.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount_fen), 0)).where(
                *_at_terminal(terminal, day), Payment.status == "reversed"
            )
        ).one()
    rep = ShiftReport(day, reversed_count=int(rev_count), reversed_fen=int(rev_fen))
    rep.by_cashier = [
        {"cashier": name, "count": int(n), "total_fen": int(total), "faces": int(faces)}
        for name, n, total, faces in cashiers
    ]
    # Meal periods in the order of the day; payments without a period last.
    for _mid, name, _starts, n, total, sub, cash, refunded in sorted(
        meals, key=lambda m: (m[2] is None, m[2] or time(0))
    ):
        rep.by_meal.append(
            {
                "meal": name,
                "count": int(n),
                "total_fen": int(total),
                "subsidy_fen": int(sub),
                "cash_fen": int(cash),
                "refunded_fen": int(refunded),
            }
        )
        rep.count += int(n)
        rep.total_fen += int(total)
        rep.subsidy_fen += int(sub)
        rep.cash_fen += int(cash)
        rep.refunded_fen += int(refunded)
    return rep


def till_canteens(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """The canteens this actor may run a till for, in id order."""
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Canteen.id, Canteen.name, Canteen.unit_id).order_by(Canteen.id)
        ).all()
    return [
        {"id": int(r.id), "name": r.name}
        for r in rows
        if actor.manages_canteen(int(r.id), int(r.unit_id))
    ]


def till_terminal(ctx: Context, canteen_id: int) -> TerminalIdentity:
    """The canteen's first live terminal, as which the till pays; ``StateConflict`` if none."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Terminal.id, Terminal.code, Terminal.region_id, Terminal.canteen_id)
            .where(Terminal.canteen_id == canteen_id, Terminal.status == "live")
            .order_by(Terminal.id)
            .limit(1)
        ).first()
    if row is None:
        raise StateConflict("本食堂没有在用的消费机，无法收款")
    return TerminalIdentity(int(row.id), str(row.code), int(row.region_id), int(row.canteen_id))


def meal_board(ctx: Context, canteen_id: int) -> list[dict[str, Any]]:
    """The canteen's meal periods with their prices, the one open now marked."""
    now = to_local(ctx.clock.now()).time()
    with ctx.db.read() as conn:
        periods = conn.execute(
            select(
                MealPeriod.id, MealPeriod.code, MealPeriod.name, MealPeriod.starts, MealPeriod.ends
            )
            .where(MealPeriod.canteen_id == canteen_id)
            .order_by(MealPeriod.starts)
        ).all()
        prices = {
            (int(m), k): int(p)
            for m, k, p in conn.execute(
                select(MealPrice.meal_period_id, MealPrice.diner_class, MealPrice.price_fen).where(
                    MealPrice.meal_period_id.in_([p.id for p in periods] or [0])
                )
            )
        }
    return [
        {
            "code": p.code,
            "name": p.name,
            "starts": p.starts,
            "ends": p.ends,
            "now": p.starts <= now < p.ends,
            "own": prices.get((int(p.id), "own")),
            "visitor": prices.get((int(p.id), "visitor")),
        }
        for p in periods
    ]


def sold_items(ctx: Context, canteen_id: int) -> list[dict[str, Any]]:
    """The canteen's dishes and shop goods sold by line (active only)."""
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Item.sku, Item.name, Item.kind, Item.price_fen, Item.barcode)
            .where(Item.canteen_id == canteen_id, Item.active.is_(True))
            .order_by(Item.kind, Item.sku)
        ).all()
    return [dict(r._mapping) for r in rows]
