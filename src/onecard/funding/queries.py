"""Read models of funding for the bureau's and the units' pages.

Contract: reads only, one read transaction each; who may read is the caller's check
(``web.scopes``). Rows are SQLAlchemy rows (attribute access), as the templates read
them. Other read models of this area: ``funding.summary`` (a run's preview figures),
``funding.unit_view`` (a unit's funding page), ``funding.notices.notice_status``.
- ``unmatched_receipts(ctx, members=None)``: credits on the dining-fund account no notice
  reference matched, by day and bank serial (``members``: only those booked into these
  regions, a fund region's member regions).
- ``settlements(ctx, quarter, members=None)``: the quarter's settlements by canteen code
  with the canteen's name and operation and the failure reason of a failed payout
  (``members``: of the canteens of these regions only).
- ``units_of(ctx, members)``: (id, code, name) of the units of these regions, by code.
- ``run_history(ctx, fund_regions, limit, reader)``: the last money runs (their audit records,
  newest first) of these fund regions (``{id: FundRegion}``), each with ``region`` (the
  fund region's name) and ``region_code``: a run names its fund region by the code at
  the end of its target (``funding.regions.FundRegion.scope``), a run of one unit by
  the unit's fund region; a run naming neither is the top region's. Reads the last
  ``HISTORY_WINDOW`` money runs the ``reader`` may see (``audit.queries.search``: a
  region's reader, its regions' runs only; None: the deployment's).
- ``unit_info(ctx, unit_id)``: the unit's information-table row, None before it is filled.
- ``open_notices(ctx)``: notices not fully paid (newest quarter first, at most
  ``OPEN_NOTICES_LIMIT``), with the unit's name and what was paid: where the clearing
  operator may assign an unclaimed receipt.
- ``notice_payer(ctx, notice_id)``: the notice's ``(unit_id, reference)`` row, or None.
- ``receipt_day(ctx, bank_serial)``: the day of the receipt with that serial, or None.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, select

from onecard.audit import queries as audit_queries
from onecard.audit.models import AuditEvent
from onecard.core.context import Context
from onecard.funding.models import (
    BankOrder,
    FundingNotice,
    FundingReceipt,
    Settlement,
    UnitInfo,
)
from onecard.funding.regions import FundRegion
from onecard.org.actors import Actor
from onecard.org.fund_regions import fund_region_map, top_region
from onecard.org.models import Canteen, Unit

OPEN_NOTICES_LIMIT = 300  # the assign form lists at most this many open notices
HISTORY_WINDOW = 500  # run_history looks through this many of the latest runs its reader sees


def unmatched_receipts(ctx: Context, members: Collection[int] | None = None) -> list[Any]:
    where: ColumnElement[bool] = FundingReceipt.unit_id.is_(None)
    if members is not None:
        where = where & FundingReceipt.region_id.in_(sorted(members))
    with ctx.db.read() as conn:
        return list(
            conn.execute(
                select(
                    FundingReceipt.bank_serial,
                    FundingReceipt.day,
                    FundingReceipt.amount_fen,
                    FundingReceipt.counterparty_name,
                    FundingReceipt.counterparty_account,
                    FundingReceipt.memo,
                )
                .where(where)
                .order_by(FundingReceipt.day, FundingReceipt.bank_serial)
            ).all()
        )


def settlements(ctx: Context, quarter: str, members: Collection[int] | None = None) -> list[Any]:
    where: ColumnElement[bool] = Settlement.quarter == quarter
    if members is not None:
        where = where & Canteen.region_id.in_(sorted(members))
    with ctx.db.read() as conn:
        return list(
            conn.execute(
                select(
                    Settlement.id,
                    Settlement.canteen_id,
                    Settlement.gross_fen,
                    Settlement.fee_fen,
                    Settlement.score,
                    Settlement.share_bp,
                    Settlement.withheld_fen,
                    Settlement.net_fen,
                    Settlement.status,
                    Settlement.settled_at,
                    Canteen.name.label("canteen"),
                    Canteen.operation,
                    BankOrder.failure_reason,
                )
                .join(Canteen, Canteen.id == Settlement.canteen_id)
                .outerjoin(BankOrder, BankOrder.order_id == Settlement.order_id)
                .where(where)
                .order_by(Canteen.code)
            ).all()
        )


def units_of(ctx: Context, members: Collection[int]) -> list[Any]:
    with ctx.db.read() as conn:
        return list(
            conn.execute(
                select(Unit.id, Unit.code, Unit.name)
                .where(Unit.region_id.in_(sorted(members)))
                .order_by(Unit.code)
            ).all()
        )


_CODE_AT_END = re.compile(r"\[([^\[\]]+)\]$")


def run_history(
    ctx: Context,
    fund_regions: Mapping[int, FundRegion],
    limit: int = 20,
    reader: Actor | None = None,
) -> list[dict[str, Any]]:
    rows = audit_queries.search(
        ctx, audit_queries.AuditQuery(kind="money_run"), HISTORY_WINDOW, reader=reader
    )
    with ctx.db.read() as conn:
        top = top_region(conn)
        fmap = fund_region_map(conn)
        raw = {
            int(seq): (unit_id, str(target or ""))
            for seq, unit_id, target in conn.execute(
                select(AuditEvent.seq, AuditEvent.unit_id, AuditEvent.target).where(
                    AuditEvent.seq.in_([int(r["seq"]) for r in rows])
                )
            )
        }
        unit_ids = sorted({int(u) for u, _ in raw.values() if u is not None})
        unit_region = {
            int(u): int(g)
            for u, g in conn.execute(select(Unit.id, Unit.region_id).where(Unit.id.in_(unit_ids)))
        }
    by_code = {f.code: f for f in fund_regions.values()}
    out: list[dict[str, Any]] = []
    for r in rows:
        unit_id, target = raw.get(int(r["seq"]), (None, ""))
        fund: FundRegion | None
        if unit_id is not None and int(unit_id) in unit_region:
            fund = fund_regions.get(fmap.get(unit_region[int(unit_id)], -1))
        else:
            found = _CODE_AT_END.search(target)
            fund = by_code.get(found.group(1)) if found else fund_regions.get(top)
        if fund is None:
            continue  # another fund region's run (or one the actor does not reach)
        out.append({**r, "region": fund.name, "region_code": fund.code})
        if len(out) >= limit:
            break
    return out


def unit_info(ctx: Context, unit_id: int) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(select(UnitInfo.__table__).where(UnitInfo.unit_id == unit_id)).first()


def open_notices(ctx: Context) -> list[dict[str, Any]]:
    paid = (
        select(func.coalesce(func.sum(FundingReceipt.amount_fen), 0))
        .where(FundingReceipt.notice_id == FundingNotice.id)
        .scalar_subquery()
    )
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                FundingNotice.id,
                FundingNotice.unit_id,
                FundingNotice.reference,
                FundingNotice.quarter,
                FundingNotice.amount_due_fen,
                Unit.name.label("unit"),
                paid.label("paid_fen"),
            )
            .join(Unit, Unit.id == FundingNotice.unit_id)
            .where(paid < FundingNotice.amount_due_fen)
            .order_by(FundingNotice.quarter.desc(), Unit.code)
            .limit(OPEN_NOTICES_LIMIT)
        ).all()
    # sum() is NUMERIC on PostgreSQL: money leaves as int.
    return [{**r._mapping, "paid_fen": int(r.paid_fen)} for r in rows]


def notice_payer(ctx: Context, notice_id: int) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(
            select(FundingNotice.unit_id, FundingNotice.reference).where(
                FundingNotice.id == notice_id
            )
        ).first()


def receipt_day(ctx: Context, bank_serial: str) -> date | None:
    with ctx.db.read() as conn:
        day = conn.execute(
            select(FundingReceipt.day).where(FundingReceipt.bank_serial == bank_serial)
        ).scalar()
    return day
