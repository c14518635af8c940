"""Which region keeps the money, and which regions lie below a region (issue 17 §1).

Contract:

- A region's **fund region** is the nearest region at or above it whose ``own_fund`` is
  set; the top region (no parent) always keeps its own fund. A unit's, a person's and a
  canteen's fund region is that of the region they belong to. Everything a fund region
  owns — its dining fund and system accounts, its funding calendar, its settlement and
  year end, what it owes or is owed in inter-region clearing — is keyed by that region's
  id.
- A tables-tier module (tests/test_layers.py): the Actor's scope, the ledger's verify
  and the payment path read it, whatever their area.
- ``subtree(conn, region_id)`` is the region and every region below it (retired ones
  too: their history still rolls up).
- A deployment has few regions (a province: 14 cities, about 120 counties, 2,000
  townships), so each call reads the whole ``regions`` table once; nothing here is on the
  payment path's hot loop (the payment core receives the fund regions as facts).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from onecard.core.errors import NotFound
from onecard.org.models import Region

RegionRow = tuple[int, int | None, bool]  # id, parent_id, own_fund


def _rows(conn: Connection) -> list[RegionRow]:
    return [
        (int(r.id), None if r.parent_id is None else int(r.parent_id), bool(r.own_fund))
        for r in conn.execute(select(Region.id, Region.parent_id, Region.own_fund))
    ]


def fund_regions_of(rows: Iterable[RegionRow]) -> dict[int, int]:
    """Every region's fund region, from (id, parent_id, own_fund) rows. Pure."""
    parent: dict[int, int | None] = {}
    own: dict[int, bool] = {}
    for rid, pid, own_fund in rows:
        parent[rid], own[rid] = pid, own_fund
    out: dict[int, int] = {}

    def resolve(rid: int) -> int:
        if rid not in out:
            pid = parent[rid]
            keeps = own[rid] or pid is None or pid not in parent
            out[rid] = rid if keeps else resolve(pid)  # type: ignore[arg-type]
        return out[rid]

    for rid in parent:
        resolve(rid)
    return out


def fund_region_map(conn: Connection) -> dict[int, int]:
    """Every region id → its fund region id."""
    return fund_regions_of(_rows(conn))


def fund_region_of(conn: Connection, region_id: int) -> int:
    found = fund_region_map(conn).get(region_id)
    if found is None:
        raise NotFound(what=f"区域 {region_id}")
    return found


def subtree_of(rows: Iterable[RegionRow], region_id: int) -> set[int]:
    """The region and every region below it. Pure."""
    children: dict[int | None, list[int]] = {}
    for rid, pid, _ in rows:
        children.setdefault(pid, []).append(rid)
    out, todo = set(), [region_id]
    while todo:
        rid = todo.pop()
        if rid not in out:
            out.add(rid)
            todo.extend(children.get(rid, ()))
    return out


def subtree(conn: Connection, region_id: int) -> set[int]:
    return subtree_of(_rows(conn), region_id)


def top_region(conn: Connection) -> int:
    """The deployment's top region (the city, or the province)."""
    rid = conn.execute(select(Region.id).where(Region.parent_id.is_(None)).order_by(Region.id))
    found = rid.scalar()
    if found is None:
        raise NotFound(what="顶级区域")
    return int(found)
