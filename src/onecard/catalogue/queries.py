"""The catalogue's read models: a canteen's dishes and goods, the reference prices in
force, the goods priced above them, a good's stock moves.

Contract: reads only. The functions taking ``ctx`` are one read transaction each (what
pages, the API and commands call); those taking ``conn`` run inside the caller's
transaction (the service's price check uses the same reading of the references).

The reference of a good on a day is the newest reference price of its canteen's city
(``city_region``: walking up from the canteen's region to the level ``city`` — a
county's or township's canteen takes its city's prices) published on or before that
day for its barcode; a good without a barcode, or whose barcode has none, takes the
newest published under its exact name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, case, select

from onecard.catalogue import stock
from onecard.catalogue.models import Item, ReferencePrice, StockMove
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.org.fund_regions import subtree
from onecard.org.models import Canteen, Region


@dataclass(frozen=True)
class Reference:
    barcode: str | None
    name: str
    price_fen: int
    store: str
    valid_from: date


@dataclass(frozen=True)
class References:
    by_barcode: dict[str, Reference]
    by_name: dict[str, Reference]


@dataclass(frozen=True)
class OverReference:
    """A good priced above its reference in force."""

    item_id: int
    canteen_id: int
    canteen: str
    sku: str
    barcode: str | None
    name: str
    price_fen: int
    reference_fen: int
    valid_from: date


def references(
    conn: Connection, region_id: int, day: date, extra: Sequence[Reference] = ()
) -> References:
    """The references in force on ``day`` (``extra``: rows not yet written, as if
    published after every stored one — a preview)."""
    by_barcode: dict[str, Reference] = {}
    by_name: dict[str, Reference] = {}
    stored = conn.execute(
        select(
            ReferencePrice.barcode,
            ReferencePrice.name,
            ReferencePrice.price_fen,
            ReferencePrice.store,
            ReferencePrice.valid_from,
        )
        .where(ReferencePrice.region_id == region_id, ReferencePrice.valid_from <= day)
        .order_by(ReferencePrice.valid_from, ReferencePrice.id)
    )
    rows = [
        Reference(bc, str(name), int(fen), str(store), since)
        for bc, name, fen, store, since in stored
    ]
    for ref in [*rows, *(e for e in extra if e.valid_from <= day)]:
        bc = ref.barcode
        if bc:
            by_barcode[str(bc)] = ref  # later rows replace earlier ones: the newest wins
        by_name[ref.name] = ref
    return References(by_barcode, by_name)


def reference_for(refs: References, barcode: str | None, name: str) -> Reference | None:
    if barcode and barcode in refs.by_barcode:
        return refs.by_barcode[barcode]
    return refs.by_name.get(name)


def over_reference(
    conn: Connection,
    region_id: int,
    day: date,
    canteen_id: int | None = None,
    extra: Sequence[Reference] = (),
) -> list[OverReference]:
    refs = references(conn, region_id, day, extra)
    q = (
        select(
            Item.id,
            Item.canteen_id,
            Canteen.name,
            Item.sku,
            Item.barcode,
            Item.name,
            Item.price_fen,
        )
        .join(Canteen, Canteen.id == Item.canteen_id)
        .where(
            Item.kind == "goods",
            Item.active.is_(True),
            Canteen.region_id.in_(sorted(subtree(conn, region_id))),
        )
        .order_by(Canteen.name, Item.sku)
    )
    if canteen_id is not None:
        q = q.where(Item.canteen_id == canteen_id)
    out = []
    for iid, cid, cname, sku, bc, name, fen in conn.execute(q):
        ref = reference_for(refs, bc, str(name))
        if ref is not None and int(fen) > ref.price_fen:
            out.append(
                OverReference(
                    int(iid),
                    int(cid),
                    str(cname),
                    str(sku),
                    bc,
                    str(name),
                    int(fen),
                    ref.price_fen,
                    ref.valid_from,
                )
            )
    return out


def _today(ctx: Context) -> date:
    return to_local(ctx.clock.now()).date()


def city_region(conn: Connection, region_id: int | None = None) -> int | None:
    """The city whose reference prices hold in ``region_id`` (reference prices are a
    city's large stores'): the region itself, or the nearest above it, at level
    ``city`` — None when there is none (a province's own region). Without a region, the
    deployment's first city (the bureau's reference list and publishing: one city's)."""
    if region_id is None:
        rid = conn.execute(
            select(Region.id).where(Region.level == "city").order_by(Region.id).limit(1)
        ).scalar()
        return None if rid is None else int(rid)
    seen: set[int] = set()
    at: int | None = region_id
    while at is not None and at not in seen:  # a few steps: township → county → city
        seen.add(at)
        row = conn.execute(select(Region.parent_id, Region.level).where(Region.id == at)).first()
        if row is None:
            return None
        if row.level == "city":
            return at
        at = None if row.parent_id is None else int(row.parent_id)
    return None


def canteen_city(conn: Connection, canteen_id: int) -> int | None:
    """The city the canteen lies in (``city_region`` of its region)."""
    rid = conn.execute(select(Canteen.region_id).where(Canteen.id == canteen_id)).scalar()
    return None if rid is None else city_region(conn, int(rid))


def goods_over_reference(ctx: Context, canteen_id: int | None = None) -> list[OverReference]:
    """The city's goods (or one canteen's, against its own city's references) priced
    above their reference today."""
    with ctx.db.read() as conn:
        region = city_region(conn) if canteen_id is None else canteen_city(conn, canteen_id)
        return [] if region is None else over_reference(conn, region, _today(ctx), canteen_id)


def canteen_items(ctx: Context, canteen_id: int) -> dict[str, Any]:
    """A canteen's name, dishes and goods (each good with its reference in force and
    ``stock_qty`` its on-hand count: recorded less sold since the last fold, negative
    ⇒ ``needs_count``)."""
    with ctx.db.read() as conn:
        canteen = conn.execute(
            select(Canteen.id, Canteen.name, Canteen.unit_id, Canteen.region_id).where(
                Canteen.id == canteen_id
            )
        ).first()
        if canteen is None:
            return {}
        city = city_region(conn, int(canteen.region_id))
        refs = references(conn, city, _today(ctx)) if city is not None else References({}, {})
        sold = stock.unfolded(conn, canteen_id)
        rows = conn.execute(
            select(Item.__table__).where(Item.canteen_id == canteen_id).order_by(Item.sku)
        ).all()
    dishes, goods = [], []
    for r in rows:
        d = dict(r._mapping)
        if d["kind"] == "goods":
            ref = reference_for(refs, d["barcode"], d["name"])
            d["reference_fen"] = None if ref is None else ref.price_fen
            d["reference_from"] = None if ref is None else ref.valid_from
            d["over"] = ref is not None and d["price_fen"] > ref.price_fen
            # On hand: the recorded count less the till's sales since the last fold.
            d["recorded_qty"] = d["stock_qty"]
            d["sold_since"] = sold.get(int(d["id"]), 0)
            d["stock_qty"] = d["recorded_qty"] - d["sold_since"]
            d["needs_count"] = d["stock_qty"] < 0
            goods.append(d)
        else:
            dishes.append(d)
    return {
        "id": int(canteen.id),
        "name": str(canteen.name),
        "unit_id": int(canteen.unit_id),
        "dishes": dishes,
        "goods": goods,
    }


def reference_list(ctx: Context) -> list[dict[str, Any]]:
    """Every reference price of the city, newest first (history kept)."""
    with ctx.db.read() as conn:
        region = city_region(conn)
        if region is None:
            return []
        current = references(conn, region, _today(ctx))
        rows = conn.execute(
            select(ReferencePrice.__table__)
            .where(ReferencePrice.region_id == region)
            .order_by(ReferencePrice.valid_from.desc(), ReferencePrice.id.desc())
        ).all()
    out = []
    for r in rows:
        d = dict(r._mapping)
        ref = reference_for(current, d["barcode"], d["name"])
        d["in_force"] = ref is not None and (
            ref.price_fen,
            ref.valid_from,
            ref.store,
        ) == (d["price_fen"], d["valid_from"], d["store"])
        out.append(d)
    return out


def stock_moves(ctx: Context, item_id: int, limit: int = 100) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                select(StockMove.__table__)
                .where(StockMove.item_id == item_id)
                .order_by(StockMove.id.desc())
                .limit(limit)
            )
        ]


def item_canteen(ctx: Context, item_id: int) -> int | None:
    with ctx.db.read() as conn:
        cid = conn.execute(select(Item.canteen_id).where(Item.id == item_id)).scalar()
    return None if cid is None else int(cid)


def city_id(ctx: Context) -> int | None:
    with ctx.db.read() as conn:
        return city_region(conn)


def stock_history(ctx: Context, item_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """A good's stock moves and till sales, newest first, at most ``limit`` of them:
    ``kind`` in | out | count | sale, ``qty`` signed (a sale negative), ``stock_after``
    (moves only), ``status`` of a sale's payment (approved, reversed, refunded — wholly —
    or part_refunded: a partial refund leaves the goods sold)."""
    p, pl = stock.payments, stock.payment_lines
    with ctx.db.read() as conn:
        moves = conn.execute(
            select(StockMove.__table__)
            .where(StockMove.item_id == item_id)
            .order_by(StockMove.at.desc(), StockMove.id.desc())
            .limit(limit)
        ).all()
        sales = conn.execute(
            select(
                p.c.id,
                p.c.txn_id,
                p.c.created_at,
                pl.c.qty,
                case(
                    (p.c.status != "approved", p.c.status),
                    (p.c.refunded_fen >= p.c.amount_fen, "refunded"),
                    (p.c.refunded_fen > 0, "part_refunded"),
                    else_="approved",
                ),
            )
            .select_from(pl)
            .join(p, p.c.id == pl.c.payment_id)
            .where(pl.c.item_id == item_id)
            .order_by(pl.c.payment_id.desc())
            .limit(limit)
        ).all()
    out: list[dict[str, Any]] = [
        {
            "kind": m.kind,
            "qty": int(m.qty),
            "stock_after": int(m.stock_after),
            "at": m.at,
            "note": m.note,
            "payment_id": None,
            "txn_id": None,
            "status": None,
        }
        for m in moves
    ]
    out += [
        {
            "kind": "sale",
            "qty": -int(qty),
            "stock_after": None,
            "at": at,
            "note": "",
            "payment_id": int(pid),
            "txn_id": str(txn),
            "status": str(status),
        }
        for pid, txn, at, qty, status in sales
    ]
    out.sort(key=lambda r: r["at"], reverse=True)
    return out[:limit]
