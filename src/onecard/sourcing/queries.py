"""Purchasing and traceability's read models (R-S2, R-S4): a canteen's sourcing page,
the traces (a batch to the meals it reached, a meal back to its batches), the
ingredient cost per canteen and meal, and their Excel tables.

Contract: plain reads, no checks of who asks (the routes and pages do that, and
``sourcing.service.may_read``). Quantities are thousandths of the ingredient's unit;
``ingredient_cost`` is fen: Σ quantity_milli × unit_cost_fen / 1000 per canteen and meal,
rounded half up once per row of the answer (the per-capita report divides it by diners).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select

from onecard.catalogue.models import Item
from onecard.core.context import Context
from onecard.core.tables import Table, to_xlsx
from onecard.org.models import Canteen, Unit
from onecard.sourcing.models import BatchUse, Ingredient, IngredientBatch, RecipeLine, Supplier
from onecard.sourcing.service import PurchaseList, show_milli


def N_(text: str) -> str:
    """Marks a phrase for the message catalogue; translated where it is shown."""
    return text


def _used_by_batch() -> Any:
    return (
        select(BatchUse.batch_id, func.sum(BatchUse.quantity_milli).label("used"))
        .group_by(BatchUse.batch_id)
        .subquery()
    )


def _batch_columns(used: Any) -> list[Any]:
    return [
        IngredientBatch.id,
        IngredientBatch.canteen_id,
        Canteen.name.label("canteen"),
        IngredientBatch.batch_no,
        IngredientBatch.received_on,
        IngredientBatch.quantity_milli,
        IngredientBatch.unit_cost_fen,
        IngredientBatch.inspection,
        IngredientBatch.inspection_note,
        Ingredient.name.label("ingredient"),
        Ingredient.unit,
        Supplier.name.label("supplier"),
        Supplier.licence_no,
        func.coalesce(used.c.used, 0).label("used_milli"),
    ]


def _batch_dict(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["used_milli"] = int(d["used_milli"])
    d["left_milli"] = int(d["quantity_milli"]) - d["used_milli"]
    d["quantity"] = show_milli(d["quantity_milli"])
    d["used"] = show_milli(d["used_milli"])
    d["left"] = show_milli(d["left_milli"])
    return d


def _batches_query() -> Any:
    used = _used_by_batch()
    return (
        select(*_batch_columns(used))
        .join(Ingredient, Ingredient.id == IngredientBatch.ingredient_id)
        .join(Supplier, Supplier.id == IngredientBatch.supplier_id)
        .join(Canteen, Canteen.id == IngredientBatch.canteen_id)
        .outerjoin(used, used.c.batch_id == IngredientBatch.id)
    )


def canteen_sourcing(ctx: Context, canteen_id: int, uses: int = 50) -> dict[str, Any]:
    """A canteen's ingredients, dishes with their recipes, suppliers, batches (newest
    first, with what is used and left) and latest uses."""
    with ctx.db.read() as conn:
        ingredients = [
            dict(r._mapping)
            for r in conn.execute(
                select(Ingredient.id, Ingredient.name, Ingredient.unit, Ingredient.grams_per_unit)
                .where(Ingredient.canteen_id == canteen_id)
                .order_by(Ingredient.name)
            )
        ]
        dishes = [
            {"id": int(r.id), "sku": r.sku, "name": r.name, "active": r.active, "lines": []}
            for r in conn.execute(
                select(Item.id, Item.sku, Item.name, Item.active)
                .where(Item.canteen_id == canteen_id, Item.kind == "dish")
                .order_by(Item.sku)
            )
        ]
        by_id = {d["id"]: d for d in dishes}
        for r in conn.execute(
            select(
                RecipeLine.item_id,
                RecipeLine.ingredient_id,
                RecipeLine.grams,
                Ingredient.name,
                Ingredient.unit,
            )
            .join(Ingredient, Ingredient.id == RecipeLine.ingredient_id)
            .where(Ingredient.canteen_id == canteen_id)
            .order_by(Ingredient.name)
        ):
            if int(r.item_id) in by_id:
                by_id[int(r.item_id)]["lines"].append(
                    {"ingredient_id": int(r.ingredient_id), "name": r.name, "grams": int(r.grams)}
                )
        suppliers = [
            dict(r._mapping)
            for r in conn.execute(
                select(Supplier.id, Supplier.name, Supplier.licence_no, Supplier.contact)
                .where(Supplier.canteen_id == canteen_id)
                .order_by(Supplier.name)
            )
        ]
        batches = [
            _batch_dict(r)
            for r in conn.execute(
                _batches_query()
                .where(IngredientBatch.canteen_id == canteen_id)
                .order_by(IngredientBatch.received_on.desc(), IngredientBatch.id.desc())
                .limit(200)
            )
        ]
        latest = _uses(conn, BatchUse.canteen_id == canteen_id, limit=uses)
    return {
        "ingredients": ingredients,
        "dishes": dishes,
        "suppliers": suppliers,
        "batches": batches,
        "uses": latest,
    }


def _uses(conn: Any, *where: Any, limit: int | None = None) -> list[dict[str, Any]]:
    q = (
        select(
            BatchUse.id,
            BatchUse.canteen_id,
            Canteen.name.label("canteen"),
            BatchUse.day,
            BatchUse.meal,
            BatchUse.item_id.label("dish_id"),
            Item.name.label("dish"),
            BatchUse.batch_id,
            IngredientBatch.batch_no,
            IngredientBatch.inspection,
            Ingredient.name.label("ingredient"),
            Ingredient.unit,
            Supplier.name.label("supplier"),
            Supplier.licence_no,
            BatchUse.quantity_milli,
            BatchUse.recorded_by,
        )
        .join(Canteen, Canteen.id == BatchUse.canteen_id)
        .join(Item, Item.id == BatchUse.item_id)
        .join(IngredientBatch, IngredientBatch.id == BatchUse.batch_id)
        .join(Ingredient, Ingredient.id == IngredientBatch.ingredient_id)
        .join(Supplier, Supplier.id == IngredientBatch.supplier_id)
        .where(*where)
        .order_by(BatchUse.day.desc(), BatchUse.meal, Item.name, BatchUse.id.desc())
    )
    if limit is not None:
        q = q.limit(limit)
    out = []
    for r in conn.execute(q):
        d = dict(r._mapping)
        d["quantity"] = show_milli(d["quantity_milli"])
        out.append(d)
    return out


def batch(ctx: Context, batch_id: int) -> dict[str, Any] | None:
    with ctx.db.read() as conn:
        r = conn.execute(_batches_query().where(IngredientBatch.id == batch_id)).first()
        if r is None:
            return None
        unit_id = conn.execute(
            select(Canteen.unit_id).where(Canteen.id == r.canteen_id)
        ).scalar_one()
    return {**_batch_dict(r), "unit_id": int(unit_id)}


def find_batches(ctx: Context, text: str = "", limit: int = 50) -> list[dict[str, Any]]:
    """The city's batches whose number, ingredient or supplier contains ``text`` (all,
    newest first, when empty); failed inspections are listed among them."""
    q = _batches_query()
    text = text.strip()
    if text:
        like = f"%{text}%"
        q = q.where(
            IngredientBatch.batch_no.like(like)
            | Ingredient.name.like(like)
            | Supplier.name.like(like)
            | Supplier.licence_no.like(like)
        )
    with ctx.db.read() as conn:
        rows = conn.execute(
            q.order_by(IngredientBatch.received_on.desc(), IngredientBatch.id.desc()).limit(limit)
        ).all()
    return [_batch_dict(r) for r in rows]


def batch_trace(ctx: Context, batch_id: int) -> dict[str, Any] | None:
    """A batch and every meal it reached: day, meal, canteen, dish and quantity; with the
    canteens and days it reached."""
    b = batch(ctx, batch_id)
    if b is None:
        return None
    with ctx.db.read() as conn:
        uses = _uses(conn, BatchUse.batch_id == batch_id)
    return {
        "batch": b,
        "uses": uses,
        "canteens": sorted({u["canteen"] for u in uses}),
        "days": sorted({u["day"] for u in uses}),
    }


def meal_trace(ctx: Context, canteen_id: int, day: date, meal: str) -> list[dict[str, Any]]:
    """The batches a canteen's meal used, dish by dish."""
    with ctx.db.read() as conn:
        return _uses(
            conn,
            BatchUse.canteen_id == canteen_id,
            BatchUse.day == day,
            BatchUse.meal == meal,
        )


@dataclass(frozen=True)
class CostRow:
    canteen_id: int
    canteen: str
    unit_id: int
    unit: str
    meal: str
    days: int
    fen: int


def ingredient_cost(
    ctx: Context, start: date, end: date, canteen_id: int | None = None
) -> list[CostRow]:
    """Ingredient cost per canteen and meal over [start, end] (both included), in fen:
    Σ quantity used × unit cost of its batch; ``days``: the days with a recorded use."""
    cost = func.sum(BatchUse.quantity_milli * IngredientBatch.unit_cost_fen)
    q = (
        select(
            BatchUse.canteen_id,
            Canteen.name,
            Canteen.unit_id,
            Unit.name.label("unit"),
            BatchUse.meal,
            func.count(func.distinct(BatchUse.day)),
            cost,
        )
        .join(IngredientBatch, IngredientBatch.id == BatchUse.batch_id)
        .join(Canteen, Canteen.id == BatchUse.canteen_id)
        .join(Unit, Unit.id == Canteen.unit_id)
        .where(BatchUse.day >= start, BatchUse.day <= end)
        .group_by(BatchUse.canteen_id, Canteen.name, Canteen.unit_id, Unit.name, BatchUse.meal)
        .order_by(Canteen.name, BatchUse.meal)
    )
    if canteen_id is not None:
        q = q.where(BatchUse.canteen_id == canteen_id)
    with ctx.reports_db.read() as conn:
        rows = conn.execute(q).all()
    return [
        CostRow(int(c), str(n), int(u), str(un), str(m), int(d), (int(x) + 500) // 1000)
        for c, n, u, un, m, d, x in rows
    ]


# --- tables (Excel) ------------------------------------------------------------------------
def batch_trace_table(trace: dict[str, Any]) -> Table:
    b = trace["batch"]
    t = Table(
        "batch_trace",
        N_("批次去向"),
        [N_("日期"), N_("餐次"), N_("食堂"), N_("菜品"), N_("用量"), N_("单位")],
        note=f"{b['batch_no']} {b['ingredient']} {b['supplier']} {b['licence_no']}",
    )
    for u in trace["uses"]:
        t.rows.append(
            [u["day"].isoformat(), u["meal"], u["canteen"], u["dish"], u["quantity"], u["unit"]]
        )
    return t


def meal_trace_table(canteen: str, day: date, meal: str, uses: list[dict[str, Any]]) -> Table:
    t = Table(
        "meal_trace",
        N_("餐次用料来源"),
        [
            N_("菜品"),
            N_("食材"),
            N_("批次号"),
            N_("供应商"),
            N_("许可证号"),
            N_("检验"),
            N_("用量"),
            N_("单位"),
        ],
        note=f"{canteen} {day} {meal}",
    )
    for u in uses:
        t.rows.append(
            [
                u["dish"],
                u["ingredient"],
                u["batch_no"],
                u["supplier"],
                u["licence_no"],
                u["inspection"],
                u["quantity"],
                u["unit"],
            ]
        )
    return t


def purchase_table(pl: PurchaseList) -> Table:
    t = Table(
        "purchase_list",
        N_("采购清单"),
        [N_("食材"), N_("单位"), N_("需用"), N_("库存"), N_("应采购"), N_("用于菜品")],
        note=f"{pl.canteen} {pl.day}",
    )
    for n in pl.lines:
        t.rows.append(
            [
                n.name,
                n.unit,
                show_milli(n.need_milli),
                show_milli(n.on_hand_milli),
                show_milli(n.to_buy_milli),
                "、".join(n.dishes),
            ]
        )
    return t


def cost_table(rows: list[CostRow], start: date, end: date) -> Table:
    t = Table(
        "ingredient_cost",
        N_("食材成本"),
        [N_("食堂"), N_("单位"), N_("餐次"), N_("天数"), N_("食材成本（元）")],
        money_cols={4},
        note=f"{start} – {end}",
    )
    for r in rows:
        t.rows.append([r.canteen, r.unit, r.meal, r.days, r.fen])
    return t


def xlsx(table: Table) -> bytes:
    return to_xlsx(table)
