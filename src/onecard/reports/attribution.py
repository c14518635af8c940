"""Which meal a payment was, and a canteen's meal history (the demand forecasts, R-S4).

Contract: ``meal_at(windows, t)`` / ``attribute(windows, meal_period_id, created_at)`` are
the one place a payment gets its meal. A payment of a meal period (``meal_period_id``)
is that meal; one priced by item lines carries none and is the meal whose window
``[starts, ends)`` holds its city wall-clock time (``created_at`` is naive UTC, converted
with ``core.clock.to_local``); outside every window it is no meal's (not counted).
``meal_history(ctx, canteen_id, start, end)``: per meal period, the diners per business
day and each dish's portions per day in ``[start, end)``, read with one GROUP BY and one
scan of the dish lines (nothing stored). A diner is an approved payment of the meal: one
made for the meal period, or one with a dish line attributed by its time (a sale of shop
goods only, or of an amount, is not a diner). Both forecasts (``reports.forecast`` the
diners, ``reports.dish_forecast`` the portions) count from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import func, select

from onecard.catalogue.models import Item
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.pay.models import MealPeriod, Payment, PaymentLine

Series = dict[date, int]


@dataclass(frozen=True)
class Window:
    """A meal period's window, Beijing wall-clock time, ``[starts, ends)``."""

    id: int
    code: str
    starts: time
    ends: time


def meal_at(windows: Sequence[Window], t: time) -> int | None:
    """The meal period whose window holds ``t`` (start included, end excluded), or None."""
    for w in windows:
        if w.starts <= t < w.ends:
            return w.id
    return None


def attribute(
    windows: Sequence[Window], meal_period_id: int | None, created_at: datetime
) -> int | None:
    """A payment's meal: its own meal period, else the window its local time falls in."""
    if meal_period_id is not None:
        return meal_period_id
    return meal_at(windows, to_local(created_at).time())


def windows_of(ctx: Context, canteen_id: int) -> list[Window]:
    with ctx.db.read() as conn:
        return [
            Window(int(i), str(c), s, e)
            for i, c, s, e in conn.execute(
                select(MealPeriod.id, MealPeriod.code, MealPeriod.starts, MealPeriod.ends)
                .where(MealPeriod.canteen_id == canteen_id)
                .order_by(MealPeriod.starts)
            )
        ]


@dataclass
class MealHistory:
    """One meal's history: diners per day, and per dish (item id) portions per day."""

    diners: Series = field(default_factory=dict)
    portions: dict[int, Series] = field(default_factory=dict)


def meal_history(
    ctx: Context, canteen_id: int, start: date, end: date, windows: Sequence[Window] | None = None
) -> dict[int, MealHistory]:
    """Per meal period id, the diners and dish portions of each day in [start, end)."""
    if windows is None:
        windows = windows_of(ctx, canteen_id)
    known = {w.id for w in windows}
    out: dict[int, MealHistory] = {}
    approved = (
        Payment.canteen_id == canteen_id,
        Payment.status == "approved",
        Payment.business_date >= start,
        Payment.business_date < end,
    )
    with ctx.reports_db.read() as conn:
        counted = conn.execute(
            select(Payment.meal_period_id, Payment.business_date, func.count())
            .where(*approved, Payment.meal_period_id.is_not(None))
            .group_by(Payment.meal_period_id, Payment.business_date)
        ).all()
        lines = conn.execute(
            select(
                Payment.id,
                Payment.meal_period_id,
                Payment.business_date,
                Payment.created_at,
                PaymentLine.item_id,
                PaymentLine.qty,
            )
            .join(PaymentLine, PaymentLine.payment_id == Payment.id)
            .join(Item, Item.id == PaymentLine.item_id)
            .where(*approved, Item.kind == "dish")
        ).all()
    for mp, d, n in counted:
        if mp is not None and int(mp) in known:
            h = out.setdefault(int(mp), MealHistory())
            h.diners[d] = h.diners.get(d, 0) + int(n)
    seen: set[int] = set()
    for pid, mp, d, at, item, qty in lines:
        meal = attribute(windows, None if mp is None else int(mp), at)
        if meal is None or meal not in known:
            continue
        h = out.setdefault(meal, MealHistory())
        if mp is None and pid not in seen:  # a meal-period payment is counted above
            seen.add(pid)
            h.diners[d] = h.diners.get(d, 0) + 1
        s = h.portions.setdefault(int(item), {})
        s[d] = s.get(d, 0) + int(qty)
    return out
