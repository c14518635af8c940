"""Read models of funding for the bureau's and the units' pages.

Contract: reads only, one read transaction each; who may read is the caller's check
(``web.scopes``). Rows are SQLAlchemy rows (attribute access), as the templates read
them. Other read models of this area: ``funding.summary`` (a run's preview figures),
``funding.unit_view`` (a unit's funding page), ``funding.notices.notice_status``.
- ``unmatched_receipts(ctx)``: credits on the dining-fund account no notice reference
  matched, by day and bank serial.
- ``settlements(ctx, quarter)``: the quarter's settlements by canteen code with the
  canteen's name and operation and the failure reason of a failed payout.
- ``unit_info(ctx, unit_id)``: the unit's information-table row, None before it is filled.
- ``open_notices(ctx)``: notices not fully paid (newest quarter first, at most
  ``OPEN_NOTICES_LIMIT``), with the unit's name and what was paid: where the clearing
  operator may assign an unclaimed receipt.
- ``notice_payer(ctx, notice_id)``: the notice's ``(unit_id, reference)`` row, or None.
- ``receipt_day(ctx, bank_serial)``: the day of the receipt with that serial, or None.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.funding.models import (
    BankOrder,
    FundingNotice,
    FundingReceipt,
    Settlement,
    UnitInfo,
)
from onecard.org.models import Canteen, Unit

OPEN_NOTICES_LIMIT = 300  # the assign form lists at most this many open notices


def unmatched_receipts(ctx: Context) -> list[Any]:
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
                .where(FundingReceipt.unit_id.is_(None))
                .order_by(FundingReceipt.day, FundingReceipt.bank_serial)
            ).all()
        )


def settlements(ctx: Context, quarter: str) -> list[Any]:
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
                .where(Settlement.quarter == quarter)
                .order_by(Canteen.code)
            ).all()
        )


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
