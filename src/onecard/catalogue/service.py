"""The catalogue's writes (R-F5, R-A11): dishes, goods, reference prices, stock, shop rules.

Contract: each public function is one transaction; it checks the actor again (a dish, a
good or a stock move: the canteen's manager, its owning unit's admin or the bureau;
reference prices: the bureau; a shop rule: the unit's admin or the bureau) and writes
one audit record (kind ``catalogue``) with what changed. Refusals write nothing:

- a good priced above the newest reference price published for it (by barcode, else by
  name) on or before today is ``AboveReferencePrice`` with the reference shown; a good
  with no reference is ``NoReferencePrice`` (the ``price_cap`` CHECK is the backstop);
- a stock move that would take the on-hand count below zero, counting the till's
  sales since the last move, is ``StockShort``; a stock-take (``count``) sets the
  on-hand count and records the difference. Each move folds the settled sales into the
  recorded count (``catalogue.stock``); the till never waits for it.

Publishing reference prices returns the goods now priced above their new reference
(``OverReference``): a falling reference does not re-price anything, it lists what the
canteens must lower (``queries.goods_over_reference`` reads the same list later).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update

from onecard.audit import service as audit
from onecard.catalogue import stock
from onecard.catalogue.models import Item, ReferencePrice, ShopRule, StockMove
from onecard.catalogue.queries import (
    OverReference,
    Reference,
    References,
    city_region,
    over_reference,
    reference_for,
    references,
)
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import (
    AboveReferencePrice,
    InvalidAmount,
    InvalidInput,
    NoReferencePrice,
    NotFound,
    StockShort,
)
from onecard.core.money import MAX_AMOUNT_FEN, yuan
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Unit

NUTRIENTS = (
    "energy_kj",
    "energy_kcal",
    "protein_mg",
    "fat_mg",
    "carbohydrate_mg",
    "salt_mg",
)


@dataclass(frozen=True)
class DishSpec:
    sku: str
    name: str
    price_fen: int
    category: str = ""
    portion_g: int | None = None
    allergens: str = ""
    energy_kj: int | None = None
    energy_kcal: int | None = None
    protein_mg: int | None = None
    fat_mg: int | None = None
    carbohydrate_mg: int | None = None
    salt_mg: int | None = None
    active: bool = True

    def check(self) -> None:
        _check_common(self.sku, self.name, self.price_fen)
        for k in ("portion_g", *NUTRIENTS):
            v = getattr(self, k)
            if v is not None and (type(v) is not int or not 0 <= v <= 10_000_000):
                raise InvalidInput(f"{k} 须为 0–10,000,000 的整数")


@dataclass(frozen=True)
class GoodSpec:
    sku: str
    name: str
    price_fen: int
    barcode: str | None = None
    unit: str = ""
    active: bool = True

    def check(self) -> None:
        _check_common(self.sku, self.name, self.price_fen)
        if self.barcode is not None and not (
            self.barcode.isascii() and self.barcode.isalnum() and len(self.barcode) <= 32
        ):
            raise InvalidInput("条码只能是 1–32 位字母或数字")


@dataclass(frozen=True)
class ReferenceRow:
    name: str
    price_fen: int
    barcode: str | None = None
    store: str = ""


def _check_common(sku: str, name: str, price_fen: int) -> None:
    if not sku or len(sku) > 32 or not name or len(name) > 60:
        raise InvalidInput("编码（1–32 字）和名称（1–60 字）不能为空")
    if type(price_fen) is not int or not 0 < price_fen <= MAX_AMOUNT_FEN:
        raise InvalidAmount()


def _canteen(conn: Connection, actor: Actor, canteen_id: int) -> Any:
    row = conn.execute(
        select(Canteen.id, Canteen.unit_id, Canteen.region_id, Canteen.name).where(
            Canteen.id == canteen_id
        )
    ).first()
    if row is None:
        raise NotFound(what="食堂")
    actor.require_canteen(int(row.id), int(row.unit_id))
    return row


def _state(conn: Connection, canteen_id: int, sku: str) -> tuple[int | None, dict[str, Any]]:
    row = conn.execute(
        select(Item.__table__).where(Item.canteen_id == canteen_id, Item.sku == sku)
    ).first()
    if row is None:
        return None, {}
    state = dict(row._mapping)
    return int(state.pop("id")), state


def _save(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    canteen: Any,
    sku: str,
    kind: str,
    values: dict[str, Any],
) -> int:
    item_id, before = _state(conn, int(canteen.id), sku)
    if item_id is not None and before["kind"] != kind:
        raise InvalidInput(f"编码 {sku} 已是{'菜品' if before['kind'] == 'dish' else '商品'}")
    if item_id is None:
        item_id = conn.execute(
            insert(Item)
            .values(canteen_id=canteen.id, sku=sku, kind=kind, **values)
            .returning(Item.id)
        ).scalar_one()
        old: dict[str, Any] = {}
        new = {"sku": sku, "kind": kind, **values}
    else:
        conn.execute(update(Item).where(Item.id == item_id).values(**values))
        old, new = audit.changed_fields(before, values)
        if not new:
            return int(item_id)
    audit.record(
        conn,
        ctx,
        actor,
        "catalogue",
        f"{kind}_saved",
        target=f"{canteen.name} {sku} {values['name']}",
        unit_id=int(canteen.unit_id),
        before=old or None,
        after=new,
    )
    return int(item_id)


def save_dish(ctx: Context, actor: Actor, canteen_id: int, spec: DishSpec) -> int:
    """Create or change the dish ``spec.sku`` of a canteen; returns its item id."""
    spec.check()
    values = asdict(spec)
    sku = values.pop("sku")
    with ctx.db.begin() as conn:
        canteen = _canteen(conn, actor, canteen_id)
        return _save(conn, ctx, actor, canteen, sku, "dish", values)


def save_good(ctx: Context, actor: Actor, canteen_id: int, spec: GoodSpec) -> int:
    """Create or change the good ``spec.sku``: priced at most at its reference (R-A11)."""
    spec.check()
    with ctx.db.begin() as conn:
        canteen = _canteen(conn, actor, canteen_id)
        today = to_local(ctx.clock.now()).date()
        city = city_region(conn, int(canteen.region_id))
        refs = references(conn, city, today) if city is not None else References({}, {})
        ref = reference_for(refs, spec.barcode, spec.name)
        check_price(spec.name, spec.price_fen, ref)
        if spec.barcode:
            taken = conn.execute(
                select(Item.sku).where(
                    Item.canteen_id == canteen_id,
                    Item.barcode == spec.barcode,
                    Item.sku != spec.sku,
                )
            ).scalar()
            if taken is not None:
                raise InvalidInput(f"条码 {spec.barcode} 已用于商品 {taken}")
        assert ref is not None
        values = {
            "name": spec.name,
            "price_fen": spec.price_fen,
            "barcode": spec.barcode or None,
            "unit": spec.unit,
            "active": spec.active,
            "market_price_fen": ref.price_fen,
        }
        return _save(conn, ctx, actor, canteen, spec.sku, "goods", values)


def check_price(name: str, price_fen: int, ref: Reference | None) -> None:
    """The price cap (R-A11): refused with the reference shown, or without one."""
    if ref is None:
        raise NoReferencePrice(name=name)
    if price_fen > ref.price_fen:
        raise AboveReferencePrice(
            name=name,
            price=yuan(price_fen),
            reference=yuan(ref.price_fen),
            valid_from=ref.valid_from.isoformat(),
        )


def publish_references(
    ctx: Context,
    actor: Actor,
    region_id: int,
    valid_from: date,
    rows: list[ReferenceRow],
    *,
    action: str = "reference_prices_published",
) -> list[OverReference]:
    """Publish large-store prices from ``valid_from``; returns the goods now above them."""
    actor.require_bureau()
    if not rows:
        raise InvalidInput("没有参考价")
    for r in rows:
        if not r.name or len(r.name) > 60:
            raise InvalidInput("商品名称不能为空（至多 60 字）")
        if type(r.price_fen) is not int or not 0 < r.price_fen <= MAX_AMOUNT_FEN:
            raise InvalidAmount()
    with ctx.db.begin() as conn:
        return _publish(conn, ctx, actor, region_id, valid_from, rows, action)


def _publish(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    region_id: int,
    valid_from: date,
    rows: list[ReferenceRow],
    action: str,
) -> list[OverReference]:
    now = ctx.clock.now()
    conn.execute(
        insert(ReferencePrice),
        [
            {
                "region_id": region_id,
                "barcode": r.barcode or None,
                "name": r.name,
                "price_fen": r.price_fen,
                "store": r.store,
                "valid_from": valid_from,
                "published_at": now,
            }
            for r in rows
        ],
    )
    # As of the day the prices hold from (today, or later for prices announced ahead).
    over = over_reference(conn, region_id, max(to_local(now).date(), valid_from))
    audit.record(
        conn,
        ctx,
        actor,
        "catalogue",
        action,
        target=f"{len(rows)} 条 {valid_from.isoformat()} 起",
        after={
            "valid_from": valid_from.isoformat(),
            "prices": [
                {"barcode": r.barcode, "name": r.name, "price_fen": r.price_fen} for r in rows
            ],
        },
        data={"goods_over_reference": [o.item_id for o in over]},
    )
    return over


def move_stock(
    ctx: Context, actor: Actor, item_id: int, kind: str, qty: int, note: str = ""
) -> int:
    """Stock in (``qty`` > 0 received), out (``qty`` > 0 taken out) or a stock-take
    (``count``: ``qty`` is the counted stock, the difference is recorded). Returns the
    on-hand count after it, the till's sales counted; never below zero. Folds the
    settled sales into the recorded count (``catalogue.stock``)."""
    if kind not in ("in", "out", "count"):
        raise InvalidInput("库存变动只能是 in、out 或 count")
    if type(qty) is not int or not (0 <= qty <= 1_000_000) or (kind != "count" and qty == 0):
        raise InvalidInput("数量须为 1–1,000,000 的整数（盘点可为 0）")
    if len(note) > 200:
        raise InvalidInput("备注至多 200 字")
    with ctx.db.begin() as conn:
        item = conn.execute(
            select(
                Item.id,
                Item.canteen_id,
                Item.kind,
                Item.name,
                Item.sku,
                Item.stock_qty,
                Item.sold_through,
            )
            .where(Item.id == item_id)
            .with_for_update()
        ).first()
        if item is None or item.kind != "goods":
            raise NotFound(what="商品")
        canteen = _canteen(conn, actor, int(item.canteen_id))
        now = ctx.clock.now()
        # Fold the settled sales into the recorded count (see catalogue.stock).
        was = int(item.sold_through)
        through = stock.fold_point(conn, item_id, was, now)
        folded = stock.sold_after(conn, item_id, was, through) if through > was else 0
        recorded = int(item.stock_qty) - folded
        pending = stock.sold_after(conn, item_id, through)
        on_hand = recorded - pending
        change = {"in": qty, "out": -qty, "count": qty - on_hand}[kind]
        after = on_hand + change
        if after < 0:
            raise StockShort(name=item.name, stock=on_hand, qty=qty)
        conn.execute(
            update(Item)
            .where(Item.id == item_id)
            .values(stock_qty=recorded + change, sold_through=through)
        )
        conn.execute(
            insert(StockMove).values(
                item_id=item_id,
                kind=kind,
                qty=change,
                stock_after=after,
                note=note,
                person_id=actor.person_id,
                at=now,
            )
        )
        audit.record(
            conn,
            ctx,
            actor,
            "catalogue",
            f"stock_{kind}",
            target=f"{canteen.name} {item.sku} {item.name}",
            unit_id=int(canteen.unit_id),
            before={"stock_qty": on_hand},
            after={"stock_qty": after},
            data={"change": change, "note": note, "sales_folded": folded},
        )
        return after


def set_shop_rule(ctx: Context, actor: Actor, unit_id: int, *, goods_from_subsidy: bool) -> None:
    """A unit's rule for goods in its canteens: may the subsidy purse pay for them."""
    with ctx.db.begin() as conn:
        unit = conn.execute(select(Unit.id, Unit.name).where(Unit.id == unit_id)).first()
        if unit is None:
            raise NotFound(what="单位")
        actor.require_unit(unit_id)
        before = conn.execute(
            select(ShopRule.goods_from_subsidy).where(ShopRule.unit_id == unit_id)
        ).scalar()
        now = ctx.clock.now()
        if before is None:
            conn.execute(
                insert(ShopRule).values(
                    unit_id=unit_id, goods_from_subsidy=goods_from_subsidy, updated_at=now
                )
            )
        elif bool(before) == goods_from_subsidy:
            return
        else:
            conn.execute(
                update(ShopRule)
                .where(ShopRule.unit_id == unit_id)
                .values(goods_from_subsidy=goods_from_subsidy, updated_at=now)
            )
        audit.record(
            conn,
            ctx,
            actor,
            "rules",
            "shop_rule",
            target=str(unit.name),
            unit_id=unit_id,
            before={"goods_from_subsidy": bool(before)},
            after={"goods_from_subsidy": goods_from_subsidy},
        )
