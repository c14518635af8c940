"""What a diner pays at a canteen (R-U1): meal period × diner class, open amount, or items.

Contract: ``diner_class`` says how the canteen sees a payer; ``meal_price`` finds the
period whose window holds the local time and its price for that class, raising the
refusal the till should show; ``items_total`` prices item lines from the canteen's list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from onecard.core.errors import (
    InvalidInput,
    NoPrice,
    NotFound,
    OutsideMealPeriod,
    VisitorsNotServed,
)
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.pay.models import Item, MealPeriod, MealPrice


@dataclass(frozen=True)
class CanteenRules:
    id: int
    unit_id: int
    name: str
    serves_visitors: bool
    serves_guests: bool
    purse_order: str


def diner_class(person_unit_id: int, person_category: str, canteen: CanteenRules) -> str:
    """own: staff of the owning unit; guest: a guest card; visitor: any other unit's staff."""
    if person_category == "guest":
        if not canteen.serves_guests:
            raise VisitorsNotServed()
        return "guest"
    if person_unit_id == canteen.unit_id:
        return "own"
    if not canteen.serves_visitors:
        raise VisitorsNotServed()
    return "visitor"


@dataclass(frozen=True)
class MealQuote:
    meal_period_id: int
    code: str
    name: str
    price_fen: int
    per_person_limit: int


def meal_price(
    conn: Connection, canteen_id: int, meal_code: str, klass: str, local_now: datetime
) -> MealQuote:
    period = conn.execute(
        select(
            MealPeriod.id,
            MealPeriod.name,
            MealPeriod.starts,
            MealPeriod.ends,
            MealPeriod.per_person_limit,
        ).where(MealPeriod.canteen_id == canteen_id, MealPeriod.code == meal_code)
    ).first()
    if period is None:
        raise NotFound(what=f"餐次 {meal_code}")
    pid, name, starts, ends, limit = period
    t = local_now.time()
    if not (starts <= t < ends):
        raise OutsideMealPeriod(f"{name} {starts:%H:%M}–{ends:%H:%M}")
    price = conn.execute(
        select(MealPrice.price_fen).where(
            MealPrice.meal_period_id == pid, MealPrice.diner_class == klass
        )
    ).scalar()
    if price is None:
        raise NoPrice()
    return MealQuote(int(pid), meal_code, str(name), int(price), int(limit))


def items_total(conn: Connection, canteen_id: int, lines: list[tuple[str, int]]) -> int:
    skus = {sku for sku, _ in lines}
    prices = {
        str(sku): int(fen)
        for sku, fen in conn.execute(
            select(Item.sku, Item.price_fen).where(
                Item.canteen_id == canteen_id, Item.sku.in_(skus), Item.active.is_(True)
            )
        )
    }
    unknown = sorted(skus - prices.keys())
    if unknown:
        raise InvalidInput(f"未知商品编码 {', '.join(unknown)}")
    total = sum(int(prices[sku]) * qty for sku, qty in lines)
    if not 0 < total <= MAX_AMOUNT_FEN:
        raise InvalidInput("商品合计金额超出范围")
    return total
