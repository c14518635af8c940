"""Purchasing and traceability's writes and the purchase list (R-S2, R-S4). What is read
back is in ``sourcing.queries``.

Contract — each public function is one transaction that checks the actor again (whoever
runs the canteen: its manager, its unit's admin, the bureau; ``Actor.require_canteen``)
and writes one audit record; bad input is refused before anything is written:

- ``add_ingredient`` — a name (unique in the canteen), the unit it is bought in and the
  grams one unit weighs.
- ``save_recipe`` — a dish's whole recipe: (ingredient, grams per portion) lines; the old
  lines are replaced (the audit record keeps them). An empty recipe clears it.
- ``add_supplier`` — name and licence number (required: 6–40 letters, digits or ``-``).
- ``receive_batch`` — a delivery: ingredient, supplier, batch number, day (not in the
  future), quantity (> 0, at most 3 decimals of the unit), unit cost in fen, inspection
  ``pass`` / ``fail`` (a failure needs a note).
- ``record_use`` — a dish served at a day's meal used so much of a batch. Refused: a
  batch that failed inspection (``BatchFailedInspection``, 409), more than the batch has
  left (``BatchShort``, 409), a day before the batch arrived or in the future, a dish or
  batch of another canteen (``NotFound``, 404).

``purchase_list`` writes nothing: the plan (dish, meal, portions) of one day times the
recipes gives each ingredient's grams and units, less what passed batches have left.
``forecast_plan`` fills the portions of a plan from the demand forecast — "量入下米": a
dish's own forecast portions (``reports.dish_forecast``: its portions per diner ×
the meal's forecast diners, plus its pre-orders) where it has one, else the meal's
forecast diners (``reports.forecast``); portions given in the plan always win. Each
planned dish says where its portions came from (``source``: ``given`` / ``dish`` /
``meal``). The menus area passes its planned dishes as ``PlanLine``s; the page lets the
manager pick them.

Quantities: thousandths of the ingredient's unit (``quantity_milli``) everywhere; a
quantity given as text or number is parsed exactly (``Decimal``), never through a float.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from onecard.audit import records as audit
from onecard.catalogue.models import Item
from onecard.core.context import Context
from onecard.core.errors import (
    BatchFailedInspection,
    BatchShort,
    DuplicateCode,
    Forbidden,
    InvalidInput,
    NotFound,
)
from onecard.menus import queries as menu_queries
from onecard.org.actors import Actor
from onecard.org.models import Canteen
from onecard.pay.models import MealPeriod
from onecard.reports import dish_forecast, forecast
from onecard.sourcing.models import (
    INSPECTIONS,
    MAX_GRAMS_PER_PORTION,
    MAX_GRAMS_PER_UNIT,
    MAX_QUANTITY_MILLI,
    MAX_UNIT_COST_FEN,
    BatchUse,
    Ingredient,
    IngredientBatch,
    RecipeLine,
    Supplier,
)

MEALS = ("breakfast", "lunch", "dinner")
MAX_RECIPE_LINES = 40
MAX_PLAN_LINES = 200
MAX_PORTIONS = 100_000
LICENCE_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


# --- small parsers ------------------------------------------------------------------------
def milli_of(value: object, what: str = "数量") -> int:
    """A quantity as a person types it ("25.5", 3) → thousandths; > 0, ≤ the maximum."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInput(f"{what}须为数字，如 25.5")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f"{what}须为数字，如 25.5") from None
    if not d.is_finite():
        raise InvalidInput(f"{what}须为数字，如 25.5")
    if d <= 0:
        raise InvalidInput(f"{what}须大于 0")
    milli = d * 1000
    if milli != milli.to_integral_value():
        raise InvalidInput(f"{what}最多保留 3 位小数")
    if milli > MAX_QUANTITY_MILLI:
        raise InvalidInput(f"{what}不能超过 {MAX_QUANTITY_MILLI // 1000:,}：请核对")
    return int(milli)


def show_milli(milli: int) -> str:
    """Thousandths → "25.5" (no trailing zeros)."""
    whole, frac = divmod(int(milli), 1000)
    return f"{whole}" if frac == 0 else f"{whole}.{frac:03d}".rstrip("0")


def _text(value: str, what: str, limit: int, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"{what}不能为空")
    if len(value) > limit:
        raise InvalidInput(f"{what}最多 {limit} 个字")
    if any(ord(ch) < 32 for ch in value):
        raise InvalidInput(f"{what}含有控制字符")
    return value


def _int(value: object, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(f"{what}须为 {low}–{high:,} 的整数")
    return value


# --- shared checks ------------------------------------------------------------------------
def _canteen(conn: Connection, actor: Actor, canteen_id: int) -> Any:
    c = conn.execute(
        select(Canteen.id, Canteen.name, Canteen.unit_id).where(Canteen.id == canteen_id)
    ).first()
    if c is None:
        raise NotFound(what="食堂")
    actor.require_canteen(canteen_id, int(c.unit_id))
    return c


def may_read(ctx: Context, actor: Actor, canteen_id: int) -> Any:
    """The canteen's row for whoever runs it or reads the city; 404 / 403 otherwise."""
    with ctx.db.read() as conn:
        c = conn.execute(
            select(Canteen.id, Canteen.name, Canteen.unit_id).where(Canteen.id == canteen_id)
        ).first()
    if c is None:
        if actor.can_read_everything() or actor.has("canteen_manager", "unit_admin"):
            raise NotFound(what="食堂")
        raise Forbidden()
    if not (actor.can_read_everything() or actor.manages_canteen(canteen_id, int(c.unit_id))):
        raise Forbidden()
    return c


def _dish(conn: Connection, canteen_id: int, dish_id: int) -> Any:
    d = conn.execute(
        select(Item.id, Item.name, Item.kind).where(
            Item.id == dish_id, Item.canteen_id == canteen_id
        )
    ).first()
    if d is None or d.kind != "dish":
        raise NotFound(what=f"菜品 {dish_id}")
    return d


def _meal(conn: Connection, canteen_id: int, meal: str) -> str:
    meal = (meal or "").strip()
    if meal in MEALS:
        return meal
    q = select(MealPeriod.code).where(MealPeriod.canteen_id == canteen_id, MealPeriod.code == meal)
    if not meal or len(meal) > 20 or conn.execute(q.limit(1)).first() is None:
        raise InvalidInput("餐次应为 breakfast（早餐）、lunch（午餐）或 dinner（晚餐）")
    return meal


def _ingredient(conn: Connection, canteen_id: int, ingredient_id: int) -> Any:
    i = conn.execute(
        select(Ingredient.id, Ingredient.name, Ingredient.unit, Ingredient.grams_per_unit).where(
            Ingredient.id == ingredient_id, Ingredient.canteen_id == canteen_id
        )
    ).first()
    if i is None:
        raise NotFound(what=f"食材 {ingredient_id}")
    return i


# --- writes ---------------------------------------------------------------------------------
def add_ingredient(
    ctx: Context, actor: Actor, canteen_id: int, name: str, unit: str, grams_per_unit: int
) -> int:
    name = _text(name, "食材名称", 60, required=True)
    unit = _text(unit, "单位", 10, required=True)
    grams = _int(grams_per_unit, "每单位克数", 1, MAX_GRAMS_PER_UNIT)
    with ctx.db.begin() as conn:
        c = _canteen(conn, actor, canteen_id)
        taken = conn.execute(
            select(Ingredient.id).where(
                Ingredient.canteen_id == canteen_id, Ingredient.name == name
            )
        ).first()
        if taken is not None:
            raise DuplicateCode(field="食材名称", field_en="Ingredient name", value=name)
        iid = int(
            conn.execute(
                insert(Ingredient)
                .values(canteen_id=canteen_id, name=name, unit=unit, grams_per_unit=grams)
                .returning(Ingredient.id)
            ).scalar_one()
        )
        after = {"name": name, "unit": unit, "grams_per_unit": grams}
        audit.record(
            conn,
            ctx,
            actor,
            "sourcing_ingredient",
            f"{c.name} {name}"[:100],
            {"ingredient": iid},
            unit_id=int(c.unit_id),
            after=after,
        )
        return iid


def save_recipe(
    ctx: Context, actor: Actor, canteen_id: int, dish_id: int, lines: Sequence[tuple[int, int]]
) -> None:
    """A dish's whole recipe: ``(ingredient_id, grams per portion)`` lines."""
    if len(lines) > MAX_RECIPE_LINES:
        raise InvalidInput(f"一道菜最多 {MAX_RECIPE_LINES} 种食材")
    clean: dict[int, int] = {}
    for ingredient_id, grams in lines:
        _int(ingredient_id, "食材", 1, 2**63 - 1)
        g = _int(grams, "每份克数", 1, MAX_GRAMS_PER_PORTION)
        if ingredient_id in clean:
            raise InvalidInput("同一种食材只能出现一次")
        clean[ingredient_id] = g
    with ctx.db.begin() as conn:
        c = _canteen(conn, actor, canteen_id)
        dish = _dish(conn, canteen_id, dish_id)
        names = {i: str(_ingredient(conn, canteen_id, i).name) for i in clean}
        old = conn.execute(
            select(Ingredient.name, RecipeLine.grams)
            .join(Ingredient, Ingredient.id == RecipeLine.ingredient_id)
            .where(RecipeLine.item_id == dish_id)
            .order_by(Ingredient.name)
        ).all()
        conn.execute(delete(RecipeLine).where(RecipeLine.item_id == dish_id))
        if clean:
            conn.execute(
                insert(RecipeLine),
                [{"item_id": dish_id, "ingredient_id": i, "grams": g} for i, g in clean.items()],
            )
        audit.record(
            conn,
            ctx,
            actor,
            "sourcing_recipe",
            f"{c.name} {dish.name}"[:100],
            {"dish": dish_id, "lines": len(clean)},
            unit_id=int(c.unit_id),
            before={str(n): int(g) for n, g in old},
            after={names[i]: g for i, g in clean.items()},
        )


def add_supplier(
    ctx: Context, actor: Actor, canteen_id: int, name: str, licence_no: str, contact: str = ""
) -> int:
    name = _text(name, "供应商名称", 100, required=True)
    licence = (licence_no or "").strip()
    if not licence:
        raise InvalidInput("须填写供应商的食品经营许可证号")
    if not 6 <= len(licence) <= 40 or not set(licence) <= LICENCE_CHARS:
        raise InvalidInput("许可证号应为 6–40 位字母、数字或 -，如 JY14301010001234")
    contact = _text(contact, "联系方式", 60)
    with ctx.db.begin() as conn:
        c = _canteen(conn, actor, canteen_id)
        taken = conn.execute(
            select(Supplier.id).where(
                Supplier.canteen_id == canteen_id, Supplier.licence_no == licence
            )
        ).first()
        if taken is not None:
            raise DuplicateCode(field="许可证号", field_en="Licence number", value=licence)
        sid = int(
            conn.execute(
                insert(Supplier)
                .values(
                    canteen_id=canteen_id,
                    name=name,
                    licence_no=licence,
                    contact=contact,
                    created_at=ctx.clock.now(),
                )
                .returning(Supplier.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            ctx,
            actor,
            "sourcing_supplier",
            f"{c.name} {name}"[:100],
            {"supplier": sid},
            unit_id=int(c.unit_id),
            after={"name": name, "licence_no": licence, "contact": contact},
        )
        return sid


@dataclass(frozen=True)
class BatchSpec:
    ingredient_id: int
    supplier_id: int
    batch_no: str
    received_on: date
    quantity: object  # units of the ingredient, as typed: "25.5"
    unit_cost_fen: int
    inspection: str  # pass | fail
    note: str = ""


def receive_batch(ctx: Context, actor: Actor, canteen_id: int, spec: BatchSpec) -> int:
    batch_no = _text(spec.batch_no, "批次号", 40, required=True)
    qty = milli_of(spec.quantity, "进货数量")
    cost = _int(spec.unit_cost_fen, "单价（分）", 0, MAX_UNIT_COST_FEN)
    if spec.inspection not in INSPECTIONS:
        raise InvalidInput("检验结果应为 pass（合格）或 fail（不合格）")
    note = _text(spec.note, "检验说明", 500)
    if spec.inspection == "fail" and not note:
        raise InvalidInput("检验不合格须写明原因")
    with ctx.db.begin() as conn:
        c = _canteen(conn, actor, canteen_id)
        ing = _ingredient(conn, canteen_id, spec.ingredient_id)
        sup = conn.execute(
            select(Supplier.id, Supplier.name, Supplier.licence_no).where(
                Supplier.id == spec.supplier_id, Supplier.canteen_id == canteen_id
            )
        ).first()
        if sup is None:
            raise NotFound(what=f"供应商 {spec.supplier_id}")
        today = ctx.clock.today()
        if spec.received_on > today:
            raise InvalidInput("进货日期不能晚于今天")
        if spec.received_on < today - timedelta(days=366):
            raise InvalidInput("进货日期不能早于一年前")
        taken = conn.execute(
            select(IngredientBatch.id).where(
                IngredientBatch.supplier_id == sup.id,
                IngredientBatch.ingredient_id == ing.id,
                IngredientBatch.batch_no == batch_no,
            )
        ).first()
        if taken is not None:
            raise DuplicateCode(field="批次号", field_en="Batch number", value=batch_no)
        bid = int(
            conn.execute(
                insert(IngredientBatch)
                .values(
                    canteen_id=canteen_id,
                    ingredient_id=ing.id,
                    supplier_id=sup.id,
                    batch_no=batch_no,
                    received_on=spec.received_on,
                    quantity_milli=qty,
                    unit_cost_fen=cost,
                    inspection=spec.inspection,
                    inspection_note=note,
                    recorded_by=actor.label[:120],
                    recorded_at=ctx.clock.now(),
                )
                .returning(IngredientBatch.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            ctx,
            actor,
            "sourcing_batch",
            f"{c.name} {ing.name} {batch_no}"[:100],
            {"batch": bid, "quantity_milli": qty, "unit_cost_fen": cost},
            unit_id=int(c.unit_id),
            after={
                "ingredient": str(ing.name),
                "supplier": str(sup.name),
                "licence_no": str(sup.licence_no),
                "batch_no": batch_no,
                "received_on": spec.received_on.isoformat(),
                "quantity": show_milli(qty),
                "unit_cost_fen": cost,
                "inspection": spec.inspection,
                "note": note,
            },
        )
        return bid


def record_use(
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    day: date,
    meal: str,
    dish_id: int,
    batch_id: int,
    quantity: object,
) -> int:
    """The dish served at ``day``'s ``meal`` used ``quantity`` units of the batch."""
    qty = milli_of(quantity, "用量")
    with ctx.db.begin() as conn:
        c = _canteen(conn, actor, canteen_id)
        meal = _meal(conn, canteen_id, meal)
        dish = _dish(conn, canteen_id, dish_id)
        b = conn.execute(
            select(
                IngredientBatch.id,
                IngredientBatch.batch_no,
                IngredientBatch.quantity_milli,
                IngredientBatch.inspection,
                IngredientBatch.received_on,
                Ingredient.name,
                Ingredient.unit,
            )
            .join(Ingredient, Ingredient.id == IngredientBatch.ingredient_id)
            .where(IngredientBatch.id == batch_id, IngredientBatch.canteen_id == canteen_id)
            .with_for_update(of=IngredientBatch)
        ).first()
        if b is None:
            raise NotFound(what=f"批次 {batch_id}")
        if day > ctx.clock.today() + timedelta(days=1):
            raise InvalidInput("用料日期最晚为明天")
        if b.inspection != "pass":
            raise BatchFailedInspection(batch_no=b.batch_no)
        if day < b.received_on:
            raise InvalidInput(f"批次 {b.batch_no} 于 {b.received_on} 到货，不能用于更早的餐次")
        used = conn.execute(
            select(func.coalesce(func.sum(BatchUse.quantity_milli), 0)).where(
                BatchUse.batch_id == batch_id
            )
        ).scalar_one()
        left = int(b.quantity_milli) - int(used)
        if qty > left:
            raise BatchShort(
                batch_no=b.batch_no, left=show_milli(left), qty=show_milli(qty), unit=b.unit
            )
        uid = int(
            conn.execute(
                insert(BatchUse)
                .values(
                    canteen_id=canteen_id,
                    day=day,
                    meal=meal,
                    item_id=dish_id,
                    batch_id=batch_id,
                    quantity_milli=qty,
                    recorded_by=actor.label[:120],
                    recorded_at=ctx.clock.now(),
                )
                .returning(BatchUse.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            ctx,
            actor,
            "sourcing_use",
            f"{c.name} {day} {meal} {dish.name}"[:100],
            {"use": uid, "batch": batch_id, "quantity_milli": qty},
            unit_id=int(c.unit_id),
            after={
                "dish": str(dish.name),
                "batch_no": str(b.batch_no),
                "ingredient": str(b.name),
                "quantity": show_milli(qty),
            },
        )
        return uid


# --- the purchase list (量入下米) --------------------------------------------------------------
@dataclass(frozen=True)
class PlanLine:
    """One planned dish of a meal; ``portions`` None: from the forecast (``source``:
    where the portions came from, ``given`` / ``dish`` / ``meal``)."""

    dish_id: int
    meal: str
    portions: int | None = None
    source: str = "given"


def menu_plan(ctx: Context, canteen_id: int, day: date) -> list[PlanLine]:
    """The dishes on the canteen's menu that day, each meal's portions from the forecast:
    the purchase list's plan when the manager has ticked nothing ("量入下米")."""
    with ctx.db.read() as conn:
        rows = menu_queries.menu_rows(conn, canteen_id, day, day)
    return [PlanLine(r.item_id, r.meal) for r in rows if r.meal in MEALS]


@dataclass
class NeedLine:
    ingredient_id: int
    name: str
    unit: str
    grams: int  # grams for the whole plan
    need_milli: int  # thousandths of a unit, rounded up
    on_hand_milli: int  # what passed batches have left
    dishes: list[str] = field(default_factory=list)

    @property
    def to_buy_milli(self) -> int:
        return max(0, self.need_milli - self.on_hand_milli)


@dataclass
class PlannedDish:
    dish_id: int
    name: str
    meal: str
    portions: int
    has_recipe: bool
    source: str = "given"  # given | dish (the dish's forecast) | meal (the meal's diners)


@dataclass
class PurchaseList:
    canteen_id: int
    canteen: str
    day: date
    dishes: list[PlannedDish]
    lines: list[NeedLine]


def forecast_portions(ctx: Context, canteen_id: int, day: date) -> dict[str, int]:
    """The forecast diners of each meal (by code) of ``day`` (forecast made the day before);
    a meal without a forecast (too little history) is absent."""
    got = forecast.canteen_forecast(ctx, canteen_id, day - timedelta(days=1), 1)
    out: dict[str, int] = {}
    for m in got["meals"]:
        cell = m["cells"][0] if m["cells"] else None
        if cell is not None:
            out[str(m["code"])] = int(cell["diners"])
    return out


def dish_forecast_portions(ctx: Context, canteen_id: int, day: date) -> dict[tuple[str, int], int]:
    """The forecast portions of ``day``'s menu dishes that have one, by (meal code, dish id)
    (forecast made the day before)."""
    return dish_forecast.dish_portions(ctx, canteen_id, day)


def forecast_plan(
    ctx: Context, canteen_id: int, day: date, plan: Sequence[PlanLine]
) -> list[PlanLine]:
    """The plan with each missing ``portions`` set to the dish's forecast portions, or,
    for a dish without one, its meal's forecast diners; neither is ``InvalidInput``
    (give the portions by hand)."""
    need = [p for p in plan if p.portions is None]
    if not need:
        return list(plan)
    dishes = dish_forecast_portions(ctx, canteen_id, day)
    diners = (
        forecast_portions(ctx, canteen_id, day)
        if any((p.meal, p.dish_id) not in dishes for p in need)
        else {}
    )
    out = []
    for p in plan:
        if p.portions is None:
            if (p.meal, p.dish_id) in dishes:
                p = PlanLine(p.dish_id, p.meal, dishes[(p.meal, p.dish_id)], "dish")
            elif p.meal in diners:
                p = PlanLine(p.dish_id, p.meal, diners[p.meal], "meal")
            else:
                raise InvalidInput(f"{p.meal} 还没有就餐人数预测（历史不足 14 天），请填写份数")
        out.append(p)
    return out


def purchase_list(
    ctx: Context, actor: Actor, canteen_id: int, day: date, plan: Sequence[PlanLine]
) -> PurchaseList:
    """The ingredients ``plan`` needs on ``day`` (portions from the forecast where not
    given), each with what passed batches still hold and what is left to buy."""
    c = may_read(ctx, actor, canteen_id)
    today = ctx.clock.today()
    if not today - timedelta(days=366) <= day <= today + timedelta(days=31):
        raise InvalidInput("采购日期须在一年前到 31 天后之间")
    if len(plan) > MAX_PLAN_LINES:
        raise InvalidInput(f"一次最多 {MAX_PLAN_LINES} 道菜")
    for p in plan:
        if p.portions is not None:
            _int(p.portions, "份数", 0, MAX_PORTIONS)
    filled = forecast_plan(ctx, canteen_id, day, plan)
    with ctx.db.read() as conn:
        dishes: list[PlannedDish] = []
        needs: dict[int, NeedLine] = {}
        grams: dict[int, int] = {}
        for p in filled:
            meal = _meal(conn, canteen_id, p.meal)
            dish = _dish(conn, canteen_id, p.dish_id)
            rows = conn.execute(
                select(
                    Ingredient.id,
                    Ingredient.name,
                    Ingredient.unit,
                    Ingredient.grams_per_unit,
                    RecipeLine.grams,
                )
                .join(Ingredient, Ingredient.id == RecipeLine.ingredient_id)
                .where(RecipeLine.item_id == p.dish_id)
            ).all()
            portions = int(p.portions or 0)
            dishes.append(
                PlannedDish(int(dish.id), str(dish.name), meal, portions, bool(rows), p.source)
            )
            for r in rows:
                line = needs.setdefault(
                    int(r.id),
                    NeedLine(int(r.id), str(r.name), str(r.unit), 0, 0, 0),
                )
                grams[int(r.id)] = int(r.grams_per_unit)
                line.grams += int(r.grams) * portions
                if dish.name not in line.dishes:
                    line.dishes.append(str(dish.name))
        left = on_hand(conn, canteen_id, list(needs))
    for iid, line in needs.items():
        line.need_milli = -(-line.grams * 1000 // grams[iid])  # rounded up
        line.on_hand_milli = left.get(iid, 0)
    return PurchaseList(
        int(c.id),
        str(c.name),
        day,
        dishes,
        sorted(needs.values(), key=lambda n: n.name),
    )


def on_hand(conn: Connection, canteen_id: int, ingredient_ids: list[int]) -> dict[int, int]:
    """Thousandths of a unit that passed batches of these ingredients still hold."""
    if not ingredient_ids:
        return {}
    used = (
        select(BatchUse.batch_id, func.sum(BatchUse.quantity_milli).label("used"))
        .group_by(BatchUse.batch_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            IngredientBatch.ingredient_id,
            func.sum(IngredientBatch.quantity_milli - func.coalesce(used.c.used, 0)),
        )
        .outerjoin(used, used.c.batch_id == IngredientBatch.id)
        .where(
            IngredientBatch.canteen_id == canteen_id,
            IngredientBatch.inspection == "pass",
            IngredientBatch.ingredient_id.in_(ingredient_ids),
        )
        .group_by(IngredientBatch.ingredient_id)
    ).all()
    return {int(i): int(n or 0) for i, n in rows}
