"""What a diner pays at a canteen (R-U1): meal period × diner class, open amount, or items.

Contract: pure rules — ``diner_class`` says how the canteen sees a payer; ``quote_meal``
prices a meal period for a class at a local time, raising the refusal the till should
show; ``price_items`` prices item lines from the canteen's list and ``goods_fen`` says what
its goods cost (paid from the cash purse unless the unit's shop rule lets the subsidy). ``meal_facts`` and
``item_prices`` read what they need for one payment (the batch reads them set-wise,
``pay.batch_sql``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import Connection, select

from onecard.catalogue.models import Item
from onecard.core.errors import (
    InvalidInput,
    NoPrice,
    OutsideMealPeriod,
    VisitorsNotServed,
)
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.pay.models import MealPeriod, MealPrice


@dataclass(frozen=True)
class CanteenRules:
    id: int
    unit_id: int
    name: str
    serves_visitors: bool
    serves_guests: bool
    purse_order: str
    # The owning unit's shop rule (``catalogue.models.ShopRule``): may the subsidy pay
    # for goods? No rule: cash only.
    goods_from_subsidy: bool = False
    region_id: int = 0  # the canteen's region (its fund region decides cross-region pay)


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
class MealFacts:
    """A canteen's meal period as a payment reads it: window, limit, price per class."""

    period_id: int
    code: str
    name: str
    starts: time
    ends: time
    per_person_limit: int
    prices: Mapping[str, int]  # diner class → fen


def quote_meal(meal: MealFacts, klass: str, local_now: datetime) -> int:
    """The meal's price for ``klass`` at ``local_now``, or the refusal the till shows."""
    t = local_now.time()
    if not (meal.starts <= t < meal.ends):
        raise OutsideMealPeriod(f"{meal.name} {meal.starts:%H:%M}–{meal.ends:%H:%M}")
    price = meal.prices.get(klass)
    if price is None:
        raise NoPrice()
    return price


def price_items(lines: Sequence[tuple[str, int]], prices: Mapping[str, int]) -> int:
    """Item lines priced from the canteen's active list (``prices``: sku → fen)."""
    unknown = sorted({sku for sku, _ in lines} - prices.keys())
    if unknown:
        raise InvalidInput(f"未知商品编码 {', '.join(unknown)}")
    total = sum(int(prices[sku]) * qty for sku, qty in lines)
    if not 0 < total <= MAX_AMOUNT_FEN:
        raise InvalidInput("商品合计金额超出范围")
    return total


def goods_fen(
    lines: Sequence[tuple[str, int]], goods: AbstractSet[str], prices: Mapping[str, int]
) -> int:
    """What the goods among priced item lines cost (``goods``: the skus that are goods)."""
    return sum(int(prices[sku]) * qty for sku, qty in lines if sku in goods)


# --- reading them (one payment) -------------------------------------------------------------
def meal_facts(conn: Connection, canteen_id: int, meal_code: str) -> MealFacts | None:
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
        return None
    pid, name, starts, ends, limit = period
    prices = {
        str(k): int(v)
        for k, v in conn.execute(
            select(MealPrice.diner_class, MealPrice.price_fen).where(
                MealPrice.meal_period_id == pid
            )
        )
    }
    return MealFacts(int(pid), meal_code, str(name), starts, ends, int(limit), prices)


def item_prices(conn: Connection, canteen_id: int, skus: Iterable[str]) -> dict[str, int]:
    return dict(item_facts(conn, canteen_id, skus)[0])


def item_facts(
    conn: Connection, canteen_id: int, skus: Iterable[str]
) -> tuple[dict[str, int], frozenset[str], dict[str, int]]:
    """The active items named: sku → fen, which of them are goods, and sku → item id."""
    prices: dict[str, int] = {}
    goods: set[str] = set()
    ids: dict[str, int] = {}
    for sku, fen, kind, iid in conn.execute(
        select(Item.sku, Item.price_fen, Item.kind, Item.id).where(
            Item.canteen_id == canteen_id, Item.sku.in_(set(skus)), Item.active.is_(True)
        )
    ):
        prices[str(sku)] = int(fen)
        ids[str(sku)] = int(iid)
        if kind == "goods":
            goods.add(str(sku))
    return prices, frozenset(goods), ids
