"""What the interregion pages, API and CLI read: agreements and statements.

Contract: read-only (``ctx.db.read``); names of regions, units and canteens resolved;
``statement_table`` is a statement as a ``core.tables.Table`` (money as fen numbers,
written to Excel as yuan; per A unit, per B canteen, and a totals row). For the page's
forms: ``fund_regions`` (id, code, name of every fund region, retired ones left out) and
``ids_by_code`` (unit or canteen codes to ids; an unknown code is ``UnknownReference``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from onecard.core.context import Context
from onecard.core.errors import NotFound, UnknownReference
from onecard.core.tables import Table
from onecard.interregion.models import Agreement, Statement
from onecard.org.fund_regions import fund_region_map
from onecard.org.models import Canteen, Region, Unit


def _names(ctx: Context) -> dict[int, str]:
    with ctx.db.read() as conn:
        return {int(i): str(n) for i, n in conn.execute(select(Region.id, Region.name))}


def agreements(ctx: Context) -> list[dict[str, Any]]:
    """Every agreement; ``units`` / ``canteens``: the names of those it lists (None: all)."""
    names = _names(ctx)
    with ctx.db.read() as conn:
        rows = conn.execute(select(Agreement.__table__).order_by(Agreement.id)).all()
        listed: dict[str, set[int]] = {"unit": set(), "canteen": set()}
        for r in rows:
            for kind, ids in (("unit", r.unit_ids), ("canteen", r.canteen_ids)):
                if ids is not None:
                    listed[kind].update(int(i) for i in json.loads(ids))
        unit_names = _member_names(conn, Unit, listed["unit"])
        canteen_names = _member_names(conn, Canteen, listed["canteen"])

    def named(ids: str | None, found: dict[int, str]) -> list[str] | None:
        return None if ids is None else [found.get(int(i), str(i)) for i in json.loads(ids)]

    return [
        {
            "units": named(r.unit_ids, unit_names),
            "canteens": named(r.canteen_ids, canteen_names),
            "id": int(r.id),
            "home_region_id": int(r.home_region_id),
            "home_region": names.get(int(r.home_region_id), ""),
            "host_region_id": int(r.host_region_id),
            "host_region": names.get(int(r.host_region_id), ""),
            "unit_ids": None if r.unit_ids is None else json.loads(r.unit_ids),
            "canteen_ids": None if r.canteen_ids is None else json.loads(r.canteen_ids),
            "price_class": r.price_class,
            "purse": r.purse,
            "valid_from": r.valid_from,
            "valid_to": r.valid_to,
            "status": r.status,
            "proposed_by": r.proposed_by,
            "note": r.note,
        }
        for r in rows
    ]


def _member_names(conn: Any, table: type[Unit] | type[Canteen], ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(table.id, table.name).where(table.id.in_(sorted(ids))))
    return {int(i): str(n) for i, n in rows}


def _statement_out(r: Any, names: dict[int, str]) -> dict[str, Any]:
    figures = json.loads(r.figures)
    return {
        "id": int(r.id),
        "home_region_id": int(r.home_region_id),
        "home_region": names.get(int(r.home_region_id), ""),
        "host_region_id": int(r.host_region_id),
        "host_region": names.get(int(r.host_region_id), ""),
        "quarter": r.quarter,
        "gross_fen": int(r.gross_fen),
        "payments": int(r.payments),
        "status": r.status,
        "home_confirmed_by": r.home_confirmed_by,
        "host_confirmed_by": r.host_confirmed_by,
        "entry_id": r.entry_id,
        "order_id": r.order_id,
        "attempts": int(r.attempts),
        "computed_at": r.computed_at,
        "home_confirmed_at": r.home_confirmed_at,
        "host_confirmed_at": r.host_confirmed_at,
        "per_unit": figures["per_unit"],
        "per_canteen": figures["per_canteen"],
    }


def statements(ctx: Context) -> list[dict[str, Any]]:
    names = _names(ctx)
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(Statement.__table__).order_by(Statement.quarter.desc(), Statement.id)
        ).all()
    return [_statement_out(r, names) for r in rows]


def statement(ctx: Context, sid: int) -> dict[str, Any]:
    names = _names(ctx)
    with ctx.db.read() as conn:
        r = conn.execute(select(Statement.__table__).where(Statement.id == sid)).first()
    if r is None:
        raise NotFound(what="清算单")
    return _statement_out(r, names)


def statement_table(ctx: Context, sid: int) -> Table:
    """The statement as one sheet: per A unit, then per B canteen, then the total."""
    s = statement(ctx, sid)
    t = Table(
        "interregion_statement",
        "跨区域就餐清算单",
        ["类别", "名称", "笔数", "金额（元）"],
        money_cols={3},
        note=f"{s['home_region']} → {s['host_region']} {s['quarter']}",
    )
    for u in s["per_unit"]:
        t.rows.append(["单位", u["unit"], u["payments"], u["fen"]])
    for c in s["per_canteen"]:
        t.rows.append(["食堂", c["canteen"], c["payments"], c["fen"]])
    t.rows.append(["合计", "", s["payments"], s["gross_fen"]])
    return t


def fund_regions(ctx: Context) -> list[dict[str, Any]]:
    """Every fund region (the sides an agreement may name), by code."""
    with ctx.db.read() as conn:
        fund_of = fund_region_map(conn)
        rows = conn.execute(
            select(Region.id, Region.code, Region.name)
            .where(Region.retired_at.is_(None))
            .order_by(Region.code)
        ).all()
    return [
        {"id": int(r.id), "code": r.code, "name": r.name}
        for r in rows
        if fund_of.get(int(r.id)) == int(r.id)
    ]


def ids_by_code(ctx: Context, kind: str, codes: list[str]) -> list[int]:
    """Unit (``kind`` "unit") or canteen codes as ids, in the order given."""
    table: type[Unit] | type[Canteen] = Unit if kind == "unit" else Canteen
    with ctx.db.read() as conn:
        found = {
            str(c): int(i)
            for c, i in conn.execute(select(table.code, table.id).where(table.code.in_(codes)))
        }
    for code in codes:
        if code not in found:
            zh, en = ("单位编码", "Unit code") if kind == "unit" else ("食堂编码", "Canteen code")
            raise UnknownReference(field=zh, field_en=en, value=code)
    return [found[c] for c in codes]
