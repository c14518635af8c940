"""Menus and pre-orders: the reads (R-S2, R-S3).

Contract:

- ``menu_rows_query(canteen_id, start, end)`` is the menu as a SQL ``Select``: one row
  per dish per day and meal, with the catalogue's price, portion, allergens and
  nutrition per portion, and ``item_id`` — so another area can join its own figures
  onto the rows (the dishes' average rating: ``select(q.subquery(), …).outerjoin(…)``
  on ``item_id``) without this module knowing about them. ``menu_rows`` runs it and
  returns ``MenuRow`` values (``rating`` stays ``None`` until a rating source is given:
  ``ratings`` maps item id → average stars). ``week`` gives each dish its diners' average
  stars (``feedback.dish_queries.average_ratings``; ``None``: never rated).
- ``week`` groups a canteen's week (Monday–Sunday) by day and meal for the pages;
  ``counts`` is the canteen's pre-ordered portions per dish for a day (placed and
  picked up; cancelled ones do not count) with how many were paid ahead;
  ``my_preorders`` a diner's pre-orders from a day on; ``held_fen`` what a diner has
  on hold now (the ledger's ``preorder_hold`` account, derived from postings).
- ``menu_day_items`` and ``preorder_totals`` are what the dish forecast
  (``reports.dish_forecast``) reads: the days each dish was on a meal's menu, and a
  day's pre-ordering diners and pre-ordered portions per meal and dish.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Select, case, func, select

from onecard.catalogue.models import Item
from onecard.core.context import Context
from onecard.core.errors import InvalidInput
from onecard.core.tables import Table
from onecard.feedback.dish_queries import average_ratings
from onecard.ledger.models import Account, Posting
from onecard.menus.models import HOLD_KIND, MenuDish, Preorder, PreorderLine
from onecard.menus.service import check_day, cutoff_local, rule_of
from onecard.org.models import Canteen
from onecard.pay.models import MealPeriod


def N_(text: str) -> str:
    """Marks a phrase for the catalogue; translated where it is shown."""
    return text


NUTRIENTS = ("energy_kcal", "protein_mg", "fat_mg", "carbohydrate_mg", "salt_mg")


@dataclass
class MenuRow:
    day: date
    meal: str
    item_id: int
    sku: str
    name: str
    category: str
    price_fen: int
    portion_g: int | None
    allergens: str
    energy_kj: int | None
    energy_kcal: int | None
    protein_mg: int | None
    fat_mg: int | None
    carbohydrate_mg: int | None
    salt_mg: int | None
    rating: float | None = None


def menu_rows_query(canteen_id: int, start: date, end: date) -> Select[*tuple[Any, ...]]:
    """The menu rows of ``start``…``end`` (inclusive) as a ``Select`` (see the contract)."""
    return (
        select(
            MenuDish.day,
            MenuDish.meal,
            Item.id.label("item_id"),
            Item.sku,
            Item.name,
            Item.category,
            Item.price_fen,
            Item.portion_g,
            Item.allergens,
            Item.energy_kj,
            Item.energy_kcal,
            Item.protein_mg,
            Item.fat_mg,
            Item.carbohydrate_mg,
            Item.salt_mg,
            MenuDish.position,
        )
        .join(Item, Item.id == MenuDish.item_id)
        .where(MenuDish.canteen_id == canteen_id, MenuDish.day.between(start, end))
        .order_by(MenuDish.day, MenuDish.meal, MenuDish.position)
    )


def menu_rows(
    conn: Connection,
    canteen_id: int,
    start: date,
    end: date,
    ratings: Mapping[int, float] | None = None,
) -> list[MenuRow]:
    out = []
    for r in conn.execute(menu_rows_query(canteen_id, start, end)):
        m = dict(r._mapping)
        m.pop("position")
        row = MenuRow(**m)
        if ratings is not None:
            row.rating = ratings.get(row.item_id)
        out.append(row)
    return out


@dataclass
class Meal:
    code: str
    name: str
    dishes: list[MenuRow] = field(default_factory=list)
    cutoff: str = ""
    open: bool = False


@dataclass
class Day:
    day: date
    meals: list[Meal] = field(default_factory=list)


def monday_of(d: date) -> date:
    return d - timedelta(days=d.weekday())


def meal_names(conn: Connection, canteen_id: int) -> list[tuple[str, str]]:
    return [
        (str(c), str(n))
        for c, n in conn.execute(
            select(MealPeriod.code, MealPeriod.name)
            .where(MealPeriod.canteen_id == canteen_id)
            .order_by(MealPeriod.starts)
        )
    ]


def week(ctx: Context, canteen_id: int, monday: date) -> list[Day]:
    """The canteen's menu Monday–Sunday, by day and meal, with each meal's cut-off and
    whether it may be pre-ordered now."""
    try:
        check_day(monday)
    except InvalidInput:
        return []  # no menu outside 2000–2099 (and no date arithmetic near its ends)
    local_now = ctx.clock.local_now()
    with ctx.db.read() as conn:
        rows = menu_rows(conn, canteen_id, monday, monday + timedelta(days=6))
        rated = average_ratings(conn, {r.item_id for r in rows})
        for r in rows:
            r.rating = rated[r.item_id][0] if r.item_id in rated else None
        meals = meal_names(conn, canteen_id)
        rule = rule_of(conn, canteen_id)
    days = []
    for i in range(7):
        d = monday + timedelta(days=i)
        cut = cutoff_local(d, rule)
        day = Day(d)
        for code, name in meals:
            dishes = [r for r in rows if r.day == d and r.meal == code]
            day.meals.append(
                Meal(
                    code,
                    name,
                    dishes,
                    f"{cut:%m-%d %H:%M}",
                    bool(dishes) and d > local_now.date() and local_now < cut,
                )
            )
        days.append(day)
    return days


def canteen_list(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return [
            {"id": int(i), "name": str(n), "unit_id": int(u)}
            for i, n, u in conn.execute(
                select(Canteen.id, Canteen.name, Canteen.unit_id).order_by(Canteen.id)
            )
        ]


def canteen_of(ctx: Context, canteen_id: int) -> dict[str, Any] | None:
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Canteen.id, Canteen.name, Canteen.unit_id).where(Canteen.id == canteen_id)
        ).first()
        if row is None:
            return None
        rule = rule_of(conn, canteen_id)
    return {
        "id": int(row.id),
        "name": str(row.name),
        "unit_id": int(row.unit_id),
        "cutoff": rule.cutoff.strftime("%H:%M"),
        "no_show": rule.no_show,
    }


@dataclass
class Count:
    meal: str
    sku: str
    name: str
    portions: int
    orders: int
    prepaid: int
    picked_up: int


def counts(ctx: Context, canteen_id: int, day: date) -> list[Count]:
    """Pre-ordered portions per meal and dish on ``day`` (not counting cancelled ones)."""
    with ctx.db.read() as conn:
        order = {c: i for i, (c, _) in enumerate(meal_names(conn, canteen_id))}
        rows = conn.execute(
            select(
                Preorder.meal,
                PreorderLine.sku,
                PreorderLine.name,
                func.sum(PreorderLine.qty),
                func.count(func.distinct(Preorder.id)),
                func.sum(case((Preorder.pay_mode == "prepaid", PreorderLine.qty), else_=0)),
                func.sum(case((Preorder.status == "picked_up", PreorderLine.qty), else_=0)),
            )
            .join(Preorder, Preorder.id == PreorderLine.preorder_id)
            .where(
                Preorder.canteen_id == canteen_id,
                Preorder.day == day,
                Preorder.status.in_(("placed", "picked_up", "no_show")),
            )
            .group_by(Preorder.meal, PreorderLine.sku, PreorderLine.name)
        ).all()
    got = [
        Count(str(m), str(s), str(n), int(p), int(o), int(pp), int(pu))
        for m, s, n, p, o, pp, pu in rows
    ]
    return sorted(got, key=lambda c: (order.get(c.meal, 99), c.sku))


def counts_table(canteen: str, day: date, rows: list[Count], meals: dict[str, str]) -> Table:
    return Table(
        key="preorder_counts",
        title=N_("预订份数"),
        note=f"{canteen} {day.isoformat()}",
        headers=[
            N_("餐次"),
            N_("菜品编码"),
            N_("菜品"),
            N_("份数"),
            N_("预订单数"),
            N_("预付份数"),
            N_("已取份数"),
        ],
        rows=[
            [meals.get(c.meal, c.meal), c.sku, c.name, c.portions, c.orders, c.prepaid, c.picked_up]
            for c in rows
        ],
    )


def meal_name_map(ctx: Context, canteen_id: int) -> dict[str, str]:
    with ctx.db.read() as conn:
        return dict(meal_names(conn, canteen_id))


def my_preorders(ctx: Context, person_id: int, since: date) -> list[dict[str, Any]]:
    from onecard.menus.service import view

    with ctx.db.read() as conn:
        ids = conn.execute(
            select(Preorder.id)
            .where(Preorder.person_id == person_id, Preorder.day >= since)
            .order_by(Preorder.day.desc(), Preorder.id.desc())
            .limit(50)
        ).scalars()
        return [view(conn, int(i)) for i in ids]


def held_fen(ctx: Context, person_id: int) -> int:
    """What the person has on hold for prepaid pre-orders (from the ledger)."""
    with ctx.db.read() as conn:
        got = conn.execute(
            select(func.coalesce(func.sum(Posting.amount), 0))
            .join(Account, Account.id == Posting.account_id)
            .where(
                Account.owner_kind == "person",
                Account.owner_id == person_id,
                Account.kind == HOLD_KIND,
            )
        ).scalar_one()
    return int(got)


def active_dishes(ctx: Context, canteen_id: int) -> list[dict[str, Any]]:
    """The canteen's dishes that may go on a menu (active, kind dish), by sku."""
    with ctx.db.read() as conn:
        return [
            {"sku": str(s), "name": str(n), "price_fen": int(p), "category": str(c)}
            for s, n, p, c in conn.execute(
                select(Item.sku, Item.name, Item.price_fen, Item.category)
                .where(Item.canteen_id == canteen_id, Item.kind == "dish", Item.active.is_(True))
                .order_by(Item.sku)
            )
        ]


def menu_day_items(
    conn: Connection, canteen_id: int, start: date, end: date
) -> dict[tuple[str, int], set[date]]:
    """The days ``start``…``end`` (inclusive) each dish was on each meal's menu, by
    (meal code, item id): what the demand forecast counts a dish's history on."""
    out: dict[tuple[str, int], set[date]] = {}
    for d, m, i in conn.execute(
        select(MenuDish.day, MenuDish.meal, MenuDish.item_id).where(
            MenuDish.canteen_id == canteen_id, MenuDish.day.between(start, end)
        )
    ):
        out.setdefault((str(m), int(i)), set()).add(d)
    return out


def preorder_totals(
    conn: Connection, canteen_id: int, day: date
) -> dict[str, tuple[int, dict[int, int]]]:
    """Per meal code of ``day``: how many pre-orders (diners) and the portions pre-ordered
    per item id, not counting cancelled pre-orders (as ``counts``)."""
    live = (
        Preorder.canteen_id == canteen_id,
        Preorder.day == day,
        Preorder.status.in_(("placed", "picked_up", "no_show")),
    )
    out: dict[str, tuple[int, dict[int, int]]] = {}
    for m, n in conn.execute(
        select(Preorder.meal, func.count()).where(*live).group_by(Preorder.meal)
    ):
        out[str(m)] = (int(n), {})
    for m, i, q in conn.execute(
        select(Preorder.meal, PreorderLine.item_id, func.sum(PreorderLine.qty))
        .join(Preorder, Preorder.id == PreorderLine.preorder_id)
        .where(*live)
        .group_by(Preorder.meal, PreorderLine.item_id)
    ):
        out[str(m)][1][int(i)] = int(q)
    return out
