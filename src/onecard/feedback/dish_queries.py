"""Read models of dish ratings and of what a diner ate (R-S1).

Contract: reads only, one read transaction each (``average_ratings`` inside the caller's).
- ``meal_dishes(ctx, person_id, payment_id)`` — one of the person's payments with its
  item lines (each with the diner's own rating, if any, and whether it may be rated);
  ``NotFound`` for no such payment, ``Forbidden`` for another person's.
- ``lines_summary(ctx, payment_ids)`` — {payment id: (dish lines, of them rated)} for the
  payments that have dish lines (the transaction list's "rate the dishes" link).
- ``rankings(ctx, since, until, canteen_id=None)`` — per dish rated in the Beijing days
  ``since``..``until``: canteen, dish, average stars (float, display only), count;
  best first. ``comments(…)`` — the period's ratings that carry a comment, newest first.
  ``rankings_table`` / ``comments_table`` — the same as ``core.tables.Table`` (Excel).
- ``average_ratings(conn, item_ids)`` — {item id: (average, count)} over every rating
  of those items, for other areas' pages (a weekly menu) to join in; items never rated
  are absent.
- ``week_nutrition(ctx, person_id, day)`` — ``feedback.nutrition.WeekNutrition``: the
  totals of what the person ate in the Beijing week (Monday–Sunday) holding ``day``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import Connection, func, select

from onecard.catalogue.models import Item
from onecard.core.clock import from_local, to_local
from onecard.core.context import Context
from onecard.core.errors import Forbidden, NotFound
from onecard.core.sheets import xlsx_append
from onecard.core.tables import Table, to_xlsx
from onecard.feedback.models import DishRating
from onecard.feedback.nutrition import KJ_PER_KCAL, NUTRIENTS, WeekNutrition
from onecard.org.models import Canteen
from onecard.pay.models import MealPeriod, Payment, PaymentLine

MAX_ROWS = 500
MAX_DAYS = 366
# Days outside these hold no payment; inside them every conversion to UTC is defined.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 24)


def clamp_day(day: date) -> date:
    return min(max(day, FIRST_DAY), LAST_DAY)


def period(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    """The Beijing days asked for: ``until`` defaults to today, ``since`` to 29 days
    before it; a period longer than ``MAX_DAYS`` is cut to the ``MAX_DAYS`` ending on
    ``until``; ``since`` after ``until`` is an empty period (no rows)."""
    until = clamp_day(until or today)
    since = clamp_day(since or until - timedelta(days=29))
    if (until - since).days >= MAX_DAYS:
        since = until - timedelta(days=MAX_DAYS - 1)
    return since, until


def _bounds(since: date, until: date) -> tuple[datetime, datetime]:
    """Beijing days ``since``..``until`` (inclusive) as naive-UTC [start, end)."""
    since, until = clamp_day(since), clamp_day(until)
    return (
        from_local(datetime.combine(since, time())),
        from_local(datetime.combine(until + timedelta(days=1), time())),
    )


def meal_dishes(ctx: Context, person_id: int, payment_id: int) -> dict[str, Any]:
    with ctx.db.read() as conn:
        pay = conn.execute(
            select(
                Payment.id,
                Payment.person_id,
                Payment.status,
                Payment.amount_fen,
                Payment.refunded_fen,
                Payment.created_at,
                Canteen.name.label("canteen"),
                MealPeriod.name.label("meal"),
            )
            .join(Canteen, Canteen.id == Payment.canteen_id)
            .outerjoin(MealPeriod, MealPeriod.id == Payment.meal_period_id)
            .where(Payment.id == payment_id)
        ).first()
        if pay is None:
            raise NotFound(what="交易")
        if pay.person_id != person_id:
            raise Forbidden()
        rateable = pay.status == "approved" and pay.refunded_fen < pay.amount_fen
        mine = {
            int(r.item_id): (int(r.stars), str(r.comment))
            for r in conn.execute(
                select(DishRating.item_id, DishRating.stars, DishRating.comment).where(
                    DishRating.payment_id == payment_id
                )
            )
        }
        lines: list[dict[str, Any]] = []
        for r in conn.execute(
            select(
                PaymentLine.line_no,
                PaymentLine.item_id,
                PaymentLine.qty,
                PaymentLine.unit_price_fen,
                PaymentLine.line_fen,
                Item.name,
                Item.kind,
                Item.category,
            )
            .join(Item, Item.id == PaymentLine.item_id)
            .where(PaymentLine.payment_id == payment_id)
            .order_by(PaymentLine.line_no)
        ):
            stars, comment = mine.get(int(r.item_id), (None, ""))
            lines.append(
                {
                    "line_no": int(r.line_no),
                    "item_id": int(r.item_id),
                    "name": str(r.name),
                    "kind": str(r.kind),
                    "category": str(r.category),
                    "qty": int(r.qty),
                    "unit_price_fen": int(r.unit_price_fen),
                    "line_fen": int(r.line_fen),
                    "stars": stars,
                    "comment": comment,
                    "rateable": rateable and r.kind == "dish" and stars is None,
                }
            )
    # A dish sold on two lines of one payment is rated once: only its first line asks.
    asked: set[int] = set()
    for line in lines:
        if line["rateable"] and line["item_id"] in asked:
            line["rateable"] = False
        asked.add(int(line["item_id"]))
    return {
        "payment_id": int(pay.id),
        "status": str(pay.status),
        "amount_fen": int(pay.amount_fen),
        "refunded_fen": int(pay.refunded_fen),
        "at": to_local(pay.created_at).isoformat(timespec="seconds"),
        "canteen": str(pay.canteen),
        "meal": None if pay.meal is None else str(pay.meal),
        "rateable": rateable,
        "lines": lines,
    }


def lines_summary(ctx: Context, payment_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    ids = sorted(set(payment_ids))
    if not ids:
        return {}
    with ctx.db.read() as conn:
        dishes = conn.execute(
            select(PaymentLine.payment_id, func.count(func.distinct(PaymentLine.item_id)))
            .join(Item, Item.id == PaymentLine.item_id)
            .where(PaymentLine.payment_id.in_(ids), Item.kind == "dish")
            .group_by(PaymentLine.payment_id)
        ).all()
        rated = dict(
            conn.execute(
                select(DishRating.payment_id, func.count())
                .where(DishRating.payment_id.in_(ids))
                .group_by(DishRating.payment_id)
            ).all()
        )
    return {int(p): (int(n), int(rated.get(p, 0))) for p, n in dishes}


def rankings(
    ctx: Context, since: date, until: date, canteen_id: int | None = None
) -> list[dict[str, Any]]:
    start, end = _bounds(since, until)
    avg = func.avg(DishRating.stars)
    q = (
        select(
            DishRating.item_id,
            Item.name,
            Item.category,
            Canteen.id.label("canteen_id"),
            Canteen.name.label("canteen"),
            avg.label("average"),
            func.count().label("n"),
        )
        .join(Item, Item.id == DishRating.item_id)
        .join(Canteen, Canteen.id == DishRating.canteen_id)
        .where(DishRating.created_at >= start, DishRating.created_at < end)
        .group_by(DishRating.item_id, Item.name, Item.category, Canteen.id, Canteen.name)
        .order_by(avg.desc(), func.count().desc(), DishRating.item_id)
        .limit(MAX_ROWS)
    )
    if canteen_id is not None:
        q = q.where(DishRating.canteen_id == canteen_id)
    with ctx.db.read() as conn:
        rows = conn.execute(q).all()
    return [
        {
            "rank": n,
            "item_id": int(r.item_id),
            "dish": str(r.name),
            "category": str(r.category),
            "canteen_id": int(r.canteen_id),
            "canteen": str(r.canteen),
            "average": round(float(r.average), 2),
            "count": int(r.n),
        }
        for n, r in enumerate(rows, start=1)
    ]


def comments(
    ctx: Context,
    since: date,
    until: date,
    canteen_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    start, end = _bounds(since, until)
    q = (
        select(
            DishRating.id,
            DishRating.created_at,
            DishRating.stars,
            DishRating.comment,
            DishRating.item_id,
            Item.name.label("dish"),
            Canteen.name.label("canteen"),
        )
        .join(Item, Item.id == DishRating.item_id)
        .join(Canteen, Canteen.id == DishRating.canteen_id)
        .where(
            DishRating.created_at >= start,
            DishRating.created_at < end,
            DishRating.comment != "",
        )
        .order_by(DishRating.id.desc())
        .limit(min(limit, MAX_ROWS))
    )
    if canteen_id is not None:
        q = q.where(DishRating.canteen_id == canteen_id)
    with ctx.db.read() as conn:
        rows = conn.execute(q).all()
    return [
        {
            "at": to_local(r.created_at).isoformat(timespec="seconds"),
            "stars": int(r.stars),
            "comment": str(r.comment),
            "item_id": int(r.item_id),
            "dish": str(r.dish),
            "canteen": str(r.canteen),
        }
        for r in rows
    ]


def rankings_table(rows: list[dict[str, Any]], since: date, until: date) -> Table:
    return Table(
        "dish_rankings",
        "菜品评分排行",
        ["名次", "食堂", "菜品", "类别", "平均星级", "评价数"],
        [
            [r["rank"], r["canteen"], r["dish"], r["category"], r["average"], r["count"]]
            for r in rows
        ],
        note=f"{since}–{until}",
    )


def comments_table(rows: list[dict[str, Any]], since: date, until: date) -> Table:
    return Table(
        "dish_comments",
        "菜品评价留言",
        ["时间", "食堂", "菜品", "星级", "留言"],
        [
            [r["at"].replace("T", " "), r["canteen"], r["dish"], r["stars"], r["comment"]]
            for r in rows
        ],
        note=f"{since}–{until}",
    )


def average_ratings(conn: Connection, item_ids: Iterable[int]) -> dict[int, tuple[float, int]]:
    """{item id: (average stars, number of ratings)}; items never rated are absent."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(DishRating.item_id, func.avg(DishRating.stars), func.count())
        .where(DishRating.item_id.in_(ids))
        .group_by(DishRating.item_id)
    ).all()
    return {int(i): (round(float(a), 2), int(n)) for i, a, n in rows}


def week_of(day: date) -> tuple[date, date]:
    """The Beijing week (Monday–Sunday) holding ``day``."""
    day = clamp_day(day)
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def week_nutrition(ctx: Context, person_id: int, day: date) -> WeekNutrition:
    """What the person ate in the week holding ``day``: the catalogue's per-portion
    nutrition × the qty of each item line of their approved payments booked that week
    (a reversed payment was not eaten; a refund does not undo a meal). Lines of items
    without a figure are counted in ``unknown_lines`` and add nothing."""
    monday, sunday = week_of(day)
    cols = [getattr(Item, c) for c, _, _ in NUTRIENTS]
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(PaymentLine.qty, Item.energy_kcal, *cols)
            .join(Payment, Payment.id == PaymentLine.payment_id)
            .join(Item, Item.id == PaymentLine.item_id)
            .where(
                Payment.person_id == person_id,
                Payment.business_date >= monday,
                Payment.business_date <= sunday,
                Payment.status == "approved",
                Item.kind == "dish",
            )
        ).all()
    totals = dict.fromkeys((c for c, _, _ in NUTRIENTS), 0)
    unknown = 0
    portions = 0
    for r in rows:
        qty, kcal = int(r[0]), r[1]
        portions += qty
        values = list(r[2:])
        if values[0] is None and kcal is not None:  # energy given in kcal only
            values[0] = round(int(kcal) * KJ_PER_KCAL)
        if any(v is None for v in values):
            unknown += 1
        for (col, _, _), v in zip(NUTRIENTS, values, strict=True):
            if v is not None:
                totals[col] += int(v) * qty
    return WeekNutrition(monday, sunday, totals, len(rows), unknown, portions)


def ratings_xlsx(
    ranked: list[dict[str, Any]], said: list[dict[str, Any]], since: date, until: date
) -> bytes:
    """A workbook of two sheets: the rankings, then the comments."""
    wb = load_workbook(io.BytesIO(to_xlsx(rankings_table(ranked, since, until))))
    table = comments_table(said, since, until)
    ws = wb.create_sheet(table.title[:31])
    xlsx_append(ws, table.headers)
    for row in table.rows:
        xlsx_append(ws, row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
