"""The bureau's reference-price file (参考价表): the city's large-store prices, from
Excel or CSV, published from a given day.

Contract (as ``org.imports``): the file is read whole and every row checked before
anything is written; each problem is reported with its row number (the header is row 1)
and column, and if there is any, ``ImportRejected`` carries them all (``exc.rows``) and
nothing is written. ``preview`` (dry run) returns the rows and the goods that would be
above their new reference, writing nothing; a real import publishes exactly those rows
(``service.publish_references``, one transaction, one audit record).

Columns: 商品名称 and 参考价（元） (yuan, at most two decimals), optional 条码 and 商超.
``template`` is the file to fill in: those columns with the prices in force today (money
as numbers), and a sheet of notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from onecard.catalogue.queries import (
    OverReference,
    Reference,
    city_region,
    over_reference,
    reference_list,
)
from onecard.catalogue.service import ReferenceRow, _publish
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.org.actors import Actor
from onecard.org.tables import (
    RowError,
    body,
    money_cell,
    read_table,
    rejected,
    xlsx,
    yuan_number,
)

COLUMNS = ("商品名称", "参考价（元）")
OPTIONAL = ("条码", "商超")
TEMPLATE_COLUMNS = ("条码", "商品名称", "参考价（元）", "商超")
TEMPLATE_NOTE = """食堂一卡通 商超参考价表 填表说明
1. 每行一种商品：商品名称、参考价（元）必填；条码、商超选填。
2. 参考价以元为单位，最多两位小数；有条码的按条码对应食堂商品，没有条码的按商品名称对应。
3. 导入时先预览：任何一行有错，全表不写入，并逐行列出错误；确认后从所填起始日期起生效。
4. 本表预先填好了今天生效的参考价，修改后导入即发布新价格（历史价格保留）。"""
TEMPLATE_HEADER_NOTES = {
    "条码": "选填。商品条码（数字），有条码时按条码对应食堂商品。",
    "商品名称": "必填。",
    "参考价（元）": "必填。本市大型商超的零售价，元，最多两位小数。",
    "商超": "选填。价格来源的商超名称。",
}


def template(ctx: Context) -> bytes:
    """The reference-price file to fill in, pre-filled with the prices in force today."""
    rows = [
        [r["barcode"] or "", r["name"], yuan_number(r["price_fen"]), r["store"] or ""]
        for r in reference_list(ctx)
        if r["in_force"]
    ]
    return xlsx([("商超参考价", TEMPLATE_COLUMNS, rows)], TEMPLATE_NOTE, TEMPLATE_HEADER_NOTES)


@dataclass
class ReferenceImport:
    dry_run: bool
    valid_from: date
    rows: list[ReferenceRow] = field(default_factory=list)
    over: list[OverReference] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "valid_from": self.valid_from.isoformat(),
            "rows": [
                {"barcode": r.barcode, "name": r.name, "price_fen": r.price_fen, "store": r.store}
                for r in self.rows
            ],
            "goods_over_reference": [
                {
                    "item_id": o.item_id,
                    "canteen": o.canteen,
                    "sku": o.sku,
                    "name": o.name,
                    "price_fen": o.price_fen,
                    "reference_fen": o.reference_fen,
                }
                for o in self.over
            ],
        }


def parse(data: bytes, filename: str = "") -> list[ReferenceRow]:
    """Every row of the file, or ``ImportRejected`` with every problem."""
    rows = read_table(data, filename)
    errors: list[RowError] = []
    out: list[ReferenceRow] = []
    seen: dict[str, int] = {}
    for n, cells in body(rows, COLUMNS, OPTIONAL):
        name = cells["商品名称"]
        barcode = cells.get("条码", "")
        if not name:
            errors.append(RowError(n, "商品名称", "不能为空"))
        elif len(name) > 60:
            errors.append(RowError(n, "商品名称", "至多 60 字"))
        if barcode and not (barcode.isascii() and barcode.isalnum() and len(barcode) <= 32):
            errors.append(RowError(n, "条码", "只能是 1–32 位字母或数字"))
        price_text = cells["参考价（元）"]
        if not price_text:
            errors.append(RowError(n, "参考价（元）", "不能为空"))
            price = 0
        else:
            price = money_cell(price_text, "参考价（元）", n, errors)
            if price_text and price <= 0 and not any(e.row == n for e in errors):
                errors.append(RowError(n, "参考价（元）", "须大于 0"))
        key = barcode or f"name:{name}"
        if key in seen:
            errors.append(
                RowError(n, "条码" if barcode else "商品名称", f"与第 {seen[key]} 行重复")
            )
        seen[key] = n
        store = cells.get("商超", "")[:60]
        out.append(ReferenceRow(name=name, price_fen=price, barcode=barcode or None, store=store))
    if not out and not errors:
        errors.append(RowError(2, "商品名称", "文件没有数据行"))
    if errors:
        raise rejected(errors)
    return out


def import_references(
    ctx: Context,
    actor: Actor,
    data: bytes,
    valid_from: date,
    *,
    filename: str = "",
    dry_run: bool = True,
) -> ReferenceImport:
    """Preview (``dry_run``) or publish the file's reference prices from ``valid_from``."""
    actor.require_bureau()
    rows = parse(data, filename)
    res = ReferenceImport(dry_run=dry_run, valid_from=valid_from, rows=rows)
    if dry_run:
        with ctx.db.read() as conn:
            region = city_region(conn)
            if region is None:
                raise NotFound(what="城市")
            extra = [Reference(r.barcode, r.name, r.price_fen, r.store, valid_from) for r in rows]
            day = max(to_local(ctx.clock.now()).date(), valid_from)
            res.over = over_reference(conn, region, day, extra=extra)
        return res
    with ctx.db.begin() as conn:
        region = city_region(conn)
        if region is None:
            raise NotFound(what="城市")
        res.over = _publish(conn, ctx, actor, region, valid_from, rows, "reference_prices_imported")
    return res
