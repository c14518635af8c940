"""Read models of waste supervision: pages, the API, exports and the score read these.

Contract: reads only, one read transaction each.
- ``per_diner(ctx, start, end, canteen_id=None)`` — each canteen's daily weights in
  ``[start, end]`` with the diners of that canteen, day and meal (approved payments not
  fully refunded, counted in one grouped query over the payments' canteen-day index)
  and the grams per diner (``None`` when nobody paid).
- ``diners_conn(conn, canteen_ids, start, end)`` — that count alone, per (canteen, day,
  meal code), in the caller's transaction.
- ``per_canteen(rows)`` — the same summed per canteen (pure).
- ``quarter_waste(ctx, canteen_id, quarter)`` — the quarter's grams, diners (only meals
  with both) and notices: what ``waste.score`` needs.
- ``clean_plates(ctx, person_id, today)`` — a diner's streak (consecutive Beijing days
  with at least one check-in, ending today, or yesterday while today has none yet),
  total and the latest check-ins.
- ``streak(days, today)`` — the streak of a set of days (pure).
- ``notices(ctx, canteen_id=None, unit_id=None)`` — waste notices, newest first.
- ``public_notices(ctx, today)`` — per canteen, its notices of the last 90 days (the
  public directory shows them, reading ``public_notices_conn`` in its own transaction
  for the page's canteens only).
- ``inspections(ctx, canteen_id=None, limit=50)`` — latest inspections (no photo bytes);
  ``photo(ctx, kind, row_id)`` — a stored photo and its type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from onecard.core.context import Context
from onecard.funding.errors import check_quarter
from onecard.org.models import Canteen, Unit
from onecard.org.tables import xlsx
from onecard.pay.models import MealPeriod, Payment
from onecard.waste.models import CleanPlate, WasteInspection, WasteNotice, WasteWeight

PUBLIC_DAYS = 90


@dataclass(frozen=True)
class DayWaste:
    canteen_id: int
    canteen: str
    day: date
    meal: str
    grams: int
    diners: int

    @property
    def per_diner(self) -> int | None:
        return self.grams // self.diners if self.diners else None


@dataclass(frozen=True)
class CanteenWaste:
    canteen_id: int
    canteen: str
    days: int
    grams: int
    diners: int

    @property
    def per_diner(self) -> int | None:
        return self.grams // self.diners if self.diners else None


@dataclass(frozen=True)
class QuarterWaste:
    grams: int
    diners: int
    notices: int


def quarter_days(quarter: str) -> tuple[date, date]:
    check_quarter(quarter)
    year, n = int(quarter[:4]), int(quarter[5])
    start = date(year, 3 * n - 2, 1)
    end = date(year + 1, 1, 1) if n == 4 else date(year, 3 * n + 1, 1)
    return start, end - timedelta(days=1)


def diners_conn(
    conn: Connection, canteen_ids: Iterable[int], start: date, end: date
) -> dict[tuple[int, date, str], int]:
    ids = sorted(set(canteen_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(Payment.canteen_id, Payment.business_date, MealPeriod.code, func.count())
        .join(MealPeriod, MealPeriod.id == Payment.meal_period_id)
        .where(
            Payment.canteen_id.in_(ids),
            Payment.business_date >= start,
            Payment.business_date <= end,
            Payment.status == "approved",
            Payment.refunded_fen < Payment.amount_fen,
        )
        .group_by(Payment.canteen_id, Payment.business_date, MealPeriod.code)
    ).all()
    return {(int(c), d, str(m)): int(n) for c, d, m, n in rows}


def _per_diner(conn: Connection, start: date, end: date, canteen_id: int | None) -> list[DayWaste]:
    q = (
        select(
            WasteWeight.canteen_id,
            Canteen.name,
            WasteWeight.day,
            WasteWeight.meal,
            WasteWeight.leftover_grams,
        )
        .join(Canteen, Canteen.id == WasteWeight.canteen_id)
        .where(WasteWeight.day >= start, WasteWeight.day <= end)
        .order_by(WasteWeight.day, Canteen.name, WasteWeight.meal)
    )
    if canteen_id is not None:
        q = q.where(WasteWeight.canteen_id == canteen_id)
    weights = conn.execute(q).all()
    diners = diners_conn(conn, (int(w.canteen_id) for w in weights), start, end)
    return [
        DayWaste(
            int(w.canteen_id),
            str(w.name),
            w.day,
            str(w.meal),
            int(w.leftover_grams),
            diners.get((int(w.canteen_id), w.day, str(w.meal)), 0),
        )
        for w in weights
    ]


def per_diner(
    ctx: Context, start: date, end: date, canteen_id: int | None = None
) -> list[DayWaste]:
    with ctx.db.read() as conn:
        return _per_diner(conn, start, end, canteen_id)


def per_canteen(rows: Iterable[DayWaste]) -> list[CanteenWaste]:
    acc: dict[int, tuple[str, set[date], int, int]] = {}
    for r in rows:
        name, days, g, n = acc.get(r.canteen_id, (r.canteen, set(), 0, 0))
        days.add(r.day)
        if r.diners:  # a meal nobody paid for says nothing per diner
            g, n = g + r.grams, n + r.diners
        acc[r.canteen_id] = (name, days, g, n)
    return sorted(
        (CanteenWaste(cid, name, len(days), g, n) for cid, (name, days, g, n) in acc.items()),
        key=lambda c: c.canteen,
    )


def quarter_waste(ctx: Context, canteen_id: int, quarter: str) -> QuarterWaste:
    start, end = quarter_days(quarter)
    with ctx.db.read() as conn:
        rows = [r for r in _per_diner(conn, start, end, canteen_id) if r.diners]
        notices = conn.execute(
            select(func.count()).where(
                WasteNotice.canteen_id == canteen_id,
                WasteNotice.issued_at >= start - timedelta(hours=8),
                WasteNotice.issued_at < end + timedelta(hours=16),
            )
        ).scalar_one()
    return QuarterWaste(sum(r.grams for r in rows), sum(r.diners for r in rows), int(notices))


def streak(days: Iterable[date], today: date) -> int:
    have = set(days)
    day = today if today in have else today - timedelta(days=1)
    n = 0
    while day in have:  # bounded: one step per distinct day checked in
        n += 1
        day -= timedelta(days=1)
    return n


def clean_plates(ctx: Context, person_id: int, today: date, limit: int = 10) -> dict[str, Any]:
    with ctx.db.read() as conn:
        days = set(
            conn.execute(
                select(CleanPlate.day).where(CleanPlate.person_id == person_id).distinct()
            ).scalars()
        )
        total = conn.execute(
            select(func.count()).where(CleanPlate.person_id == person_id)
        ).scalar_one()
        recent = conn.execute(
            select(CleanPlate.id, CleanPlate.day, CleanPlate.meal, CleanPlate.created_at)
            .where(CleanPlate.person_id == person_id)
            .order_by(CleanPlate.day.desc(), CleanPlate.id.desc())
            .limit(limit)
        ).all()
    return {
        "streak": streak(days, today),
        "total": int(total),
        "today": sorted(r.meal for r in recent if r.day == today),
        "recent": [dict(r._mapping) for r in recent],
    }


def notices(
    ctx: Context, canteen_id: int | None = None, unit_id: int | None = None
) -> list[dict[str, Any]]:
    q = (
        select(
            WasteNotice.id,
            WasteNotice.canteen_id,
            Canteen.name.label("canteen"),
            Canteen.unit_id,
            Unit.name.label("unit"),
            WasteNotice.text,
            WasteNotice.issued_by,
            WasteNotice.issued_at,
            WasteNotice.acknowledged_by,
            WasteNotice.acknowledged_at,
        )
        .join(Canteen, Canteen.id == WasteNotice.canteen_id)
        .join(Unit, Unit.id == Canteen.unit_id)
        .order_by(WasteNotice.issued_at.desc(), WasteNotice.id.desc())
    )
    if canteen_id is not None:
        q = q.where(WasteNotice.canteen_id == canteen_id)
    if unit_id is not None:
        q = q.where(Canteen.unit_id == unit_id)
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def public_notices_conn(
    conn: Connection, since: date, canteen_ids: list[int] | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Per canteen (of ``canteen_ids``, or all), its notices issued since ``since``."""
    q = (
        select(
            WasteNotice.canteen_id,
            WasteNotice.text,
            WasteNotice.issued_at,
            WasteNotice.acknowledged_at,
        )
        .where(WasteNotice.issued_at >= since)
        .order_by(WasteNotice.issued_at.desc(), WasteNotice.id.desc())
    )
    if canteen_ids is not None:
        if not canteen_ids:
            return {}
        q = q.where(WasteNotice.canteen_id.in_(canteen_ids))
    out: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(q):
        out.setdefault(int(r.canteen_id), []).append(dict(r._mapping))
    return out


def public_notices(ctx: Context, today: date) -> dict[int, list[dict[str, Any]]]:
    with ctx.db.read() as conn:
        return public_notices_conn(conn, today - timedelta(days=PUBLIC_DAYS))


def inspections(
    ctx: Context, canteen_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    q = (
        select(
            WasteInspection.id,
            WasteInspection.canteen_id,
            Canteen.name.label("canteen"),
            WasteInspection.inspected_on,
            WasteInspection.meal,
            WasteInspection.leftover_grams,
            WasteInspection.findings,
            WasteInspection.photo_type,
            WasteInspection.created_at,
        )
        .join(Canteen, Canteen.id == WasteInspection.canteen_id)
        .order_by(WasteInspection.inspected_on.desc(), WasteInspection.id.desc())
        .limit(limit)
    )
    if canteen_id is not None:
        q = q.where(WasteInspection.canteen_id == canteen_id)
    with ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def inspection_photo(ctx: Context, inspection_id: int) -> tuple[int, bytes, str] | None:
    """(canteen id, photo bytes, media type) of an inspection that has a photo, or None."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                WasteInspection.canteen_id, WasteInspection.photo, WasteInspection.photo_type
            ).where(WasteInspection.id == inspection_id, WasteInspection.photo.is_not(None))
        ).first()
    if row is None:
        return None
    return int(row.canteen_id), bytes(row.photo), str(row.photo_type)


PER_DINER_COLUMNS = ("日期", "食堂", "餐次", "剩余重量（克）", "就餐人次", "人均剩余（克）")
CANTEEN_COLUMNS = ("食堂", "天数", "剩余重量（克）", "就餐人次", "人均剩余（克）")
MEAL_ZH = {"breakfast": "早餐", "lunch": "午餐", "dinner": "晚餐"}


def per_diner_xlsx(ctx: Context, start: date, end: date) -> bytes:
    """The period's waste per diner: per canteen and per day and meal (Excel)."""
    rows = per_diner(ctx, start, end)
    days = [
        [r.day, r.canteen, MEAL_ZH.get(r.meal, r.meal), r.grams, r.diners, r.per_diner]
        for r in rows
    ]
    canteens = [[c.canteen, c.days, c.grams, c.diners, c.per_diner] for c in per_canteen(rows)]
    return xlsx(
        [("各食堂", CANTEEN_COLUMNS, canteens), ("逐日逐餐", PER_DINER_COLUMNS, days)],
        f"人均剩余 = 剩余重量 ÷ 就餐人次（该食堂当日该餐的有效消费笔数），{start} 至 {end}。\n"
        "无人消费的餐次不计入人均。",
    )
