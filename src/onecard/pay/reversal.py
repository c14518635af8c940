"""Undoing payments: a terminal's reversal (冲正) and a canteen manager's refund (退款).

Contract: both post a *new* balanced entry that moves money from the canteen's payable
back to the payer's purses; the original entry stays as it was.
- ``reverse``: only the terminal that took the payment, only within
  ``reversal_window_seconds`` (default 10 min), only a payment not yet refunded; the
  whole amount goes back to the purses it came from. Repeating a reversal returns the
  same answer (idempotent), it never pays back twice.
- ``refund``: a canteen manager of that canteen (or the owning unit's admin, or the
  bureau), any time, partial allowed up to what is left. ``request_id`` is the
  idempotency key. The refunded amount is split over the two purses in proportion to
  the payment's split, cumulatively by largest remainder, so a series of partial
  refunds ends exactly at the original split.
A reversal, or a refund that completes the whole amount, puts the payment's shop goods
back on the shelf (``catalogue.stock``: no longer counted as sold); a partial refund
gives money only.
A refund, and a reversal a person makes at the till, is an audit event (kind ``refund``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from onecard.audit import service as audit
from onecard.catalogue import stock
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import (
    AlreadyReversed,
    InvalidAmount,
    NotFound,
    NotRefundable,
    RefundExceedsLeft,
    ReversalWindowPassed,
    StateConflict,
)
from onecard.core.money import split_largest_remainder, yuan
from onecard.ledger.service import Leg, account_id, balances, post
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person
from onecard.pay.interregion import cross_of, current_fund_map
from onecard.pay.models import Payment, Refund
from onecard.pay.service import TerminalIdentity


@dataclass(frozen=True)
class Reversal:
    txn_id: str
    payment_id: int
    amount_fen: int
    subsidy_fen: int
    cash_fen: int
    balances: dict[str, int]


def _purse_ids(conn: Connection, person_id: int) -> tuple[int, int]:
    return (
        account_id(conn, "person", person_id, "subsidy"),
        account_id(conn, "person", person_id, "cash"),
    )


def _dues_back(conn: Connection, person_id: int, canteen_id: int, amount: int) -> list[Leg]:
    """A payment across fund regions posted both regions' ``region_due`` halves
    (pay.decide); giving it back takes them back, so each region's books still balance."""
    fm = current_fund_map(conn)
    if fm.single:
        return []
    person_region = conn.execute(select(Person.region_id).where(Person.id == person_id)).scalar()
    canteen_region = conn.execute(
        select(Canteen.region_id).where(Canteen.id == canteen_id)
    ).scalar()
    home = fm.fund_of.get(int(person_region or 0))
    host = fm.fund_of.get(int(canteen_region or 0))
    if home is None or host is None or home == host:
        return []
    cross = cross_of(fm, home, host, ())
    return [Leg(cross.home_due, -amount), Leg(cross.host_due, amount)]


def _give_back(
    conn: Connection,
    ctx: Context,
    *,
    region_id: int,
    canteen_id: int,
    person_id: int,
    subsidy: int,
    cash: int,
    key: str,
    kind: str,
    actor: str,
    reference: str,
) -> tuple[int, dict[str, int]]:
    sub_id, cash_id = _purse_ids(conn, person_id)
    legs = [Leg(account_id(conn, "canteen", canteen_id, "canteen_payable"), -(subsidy + cash))]
    if subsidy:
        legs.append(Leg(sub_id, subsidy))
    if cash:
        legs.append(Leg(cash_id, cash))
    legs += _dues_back(conn, person_id, canteen_id, subsidy + cash)
    now = ctx.clock.now()
    entry_id, _ = post(
        conn,
        region_id=region_id,
        kind=kind,
        key=key,
        legs=legs,
        actor=actor,
        booked_at=now,
        business_day=to_local(now).date(),
        reference=reference,
    )
    got = balances(conn, [sub_id, cash_id])
    return entry_id, {"subsidy_fen": got[sub_id], "cash_fen": got[cash_id]}


def within_window(ctx: Context, created_at: datetime, now: datetime) -> bool:
    """The reversal window (``reversal_window_seconds``) has not passed since ``created_at``."""
    return now - created_at <= timedelta(seconds=ctx.settings.reversal_window_seconds)


def reversible(
    ctx: Context, status: str, created_at: datetime, refunded_fen: int, now: datetime
) -> bool:
    """Would ``reverse`` accept this payment now? (What the till shows a button for.)"""
    return status == "approved" and not refunded_fen and within_window(ctx, created_at, now)


def reverse(
    ctx: Context, terminal: TerminalIdentity, txn_id: str, actor: Actor | None = None
) -> Reversal:
    """``actor``: the person who pressed "reverse" (the till); a hardware terminal's own
    reversal names none and is not an audit event — payments are not audit records."""
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(Payment)
            .where(Payment.terminal_id == terminal.id, Payment.txn_id == txn_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound(what=f"交易 {txn_id}")
        if row.status == "refused":
            raise StateConflict("被拒绝的交易无需冲正")
        assert row.person_id is not None
        if row.status == "reversed":
            # A retried reversal: answer as the first time, move nothing.
            sub_id, cash_id = _purse_ids(conn, row.person_id)
            got = balances(conn, [sub_id, cash_id])
            return Reversal(
                txn_id,
                row.id,
                row.amount_fen,
                row.subsidy_fen,
                row.cash_fen,
                {"subsidy_fen": got[sub_id], "cash_fen": got[cash_id]},
            )
        if not within_window(ctx, row.created_at, ctx.clock.now()):
            raise ReversalWindowPassed()
        if row.refunded_fen:
            raise AlreadyReversed("已部分退款的交易不能冲正")
        _, bal = _give_back(
            conn,
            ctx,
            region_id=row.region_id,
            canteen_id=row.canteen_id,
            person_id=row.person_id,
            subsidy=row.subsidy_fen,
            cash=row.cash_fen,
            key=f"reversal:{row.id}",
            kind="reversal",
            actor=f"terminal:{terminal.code}",
            reference=f"冲正 {txn_id}",
        )
        conn.execute(update(Payment).where(Payment.id == row.id).values(status="reversed"))
        stock.put_back(conn, row.id)  # its goods are on the shelf again
        if actor is not None:
            _audit_undo(conn, ctx, actor, "reversal", row, row.amount_fen, "", "approved")
        return Reversal(txn_id, row.id, row.amount_fen, row.subsidy_fen, row.cash_fen, bal)


def _audit_undo(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    action: str,
    row: Any,
    amount_fen: int,
    reason: str,
    before_status: str,
) -> None:
    """A person giving money back: the transaction's last write (see audit.service)."""
    unit = conn.execute(select(Canteen.unit_id).where(Canteen.id == row.canteen_id)).scalar()
    audit.record(
        conn,
        ctx,
        actor,
        "refund",
        action,
        target=f"{row.txn_id} (#{row.id})",
        unit_id=int(unit) if unit is not None else None,
        person_id=row.person_id,
        before={"status": before_status, "refunded_fen": int(row.refunded_fen)},
        after={
            "status": "reversed" if action == "reversal" else before_status,
            "refunded_fen": int(row.refunded_fen) + (0 if action == "reversal" else amount_fen),
        },
        data={"amount_fen": amount_fen, "reason": reason},
    )


@dataclass(frozen=True)
class RefundResult:
    refund_id: int
    payment_id: int
    amount_fen: int
    subsidy_fen: int
    cash_fen: int


def refund(
    ctx: Context, actor: Actor, payment_id: int, amount_fen: int, request_id: str, reason: str = ""
) -> RefundResult:
    if type(amount_fen) is not int or amount_fen <= 0:
        raise InvalidAmount()
    with ctx.db.begin() as conn:
        done = conn.execute(select(Refund).where(Refund.request_id == request_id)).one_or_none()
        if done is not None:
            if done.payment_id != payment_id or done.amount_fen != amount_fen:
                from onecard.core.errors import IdempotencyConflict

                raise IdempotencyConflict()
            return RefundResult(
                done.id, payment_id, done.amount_fen, done.subsidy_fen, done.cash_fen
            )
        row = conn.execute(
            select(Payment).where(Payment.id == payment_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound(what="交易")
        owner = conn.execute(
            select(Canteen.unit_id).where(Canteen.id == row.canteen_id)
        ).scalar_one()
        actor.require_canteen(row.canteen_id, owner)
        if row.status != "approved":
            raise NotRefundable()
        left = row.amount_fen - row.refunded_fen
        if amount_fen > left:
            # 409 with the amount left in yuan, as an e-CNY refund (``pay.ecny.refund``).
            raise RefundExceedsLeft(left=yuan(left, grouped=True))
        assert row.person_id is not None
        # Cumulative proportional split: the purses get back, in total, the same shares
        # they paid, whatever the sequence of partial refunds.
        total_after = row.refunded_fen + amount_fen
        if row.amount_fen == 0:
            raise StateConflict("零金额交易")
        sub_after = (
            split_largest_remainder(total_after, [row.subsidy_fen, row.cash_fen])[0]
            if (row.subsidy_fen + row.cash_fen)
            else 0
        )
        sub_part = sub_after - row.refunded_subsidy_fen
        cash_part = amount_fen - sub_part
        n = conn.execute(
            select(func.count()).select_from(Refund).where(Refund.payment_id == payment_id)
        ).scalar_one()
        entry_id, _ = _give_back(
            conn,
            ctx,
            region_id=row.region_id,
            canteen_id=row.canteen_id,
            person_id=row.person_id,
            subsidy=sub_part,
            cash=cash_part,
            key=f"refund:{row.id}:{n + 1}:{request_id}",
            kind="refund",
            actor=actor.label,
            reference=f"退款 {row.txn_id} {reason}"[:200],
        )
        conn.execute(
            update(Payment)
            .where(Payment.id == row.id)
            .values(refunded_fen=total_after, refunded_subsidy_fen=sub_after)
        )
        if total_after == row.amount_fen:
            stock.put_back(conn, row.id)  # wholly refunded: its goods come back
        rid = int(
            conn.execute(
                insert(Refund)
                .values(
                    payment_id=row.id,
                    request_id=request_id,
                    amount_fen=amount_fen,
                    subsidy_fen=sub_part,
                    cash_fen=cash_part,
                    entry_id=entry_id,
                    actor=actor.label,
                    reason=reason,
                    created_at=ctx.clock.now(),
                )
                .returning(Refund.id)
            ).scalar_one()
        )
        _audit_undo(conn, ctx, actor, "refund", row, amount_fen, reason, row.status)
        return RefundResult(rid, row.id, amount_fen, sub_part, cash_part)


def terminal_day(ctx: Context, terminal: TerminalIdentity) -> tuple[str, int, int]:
    """(day, approved count, approved total) for the terminal's canteen-local today."""
    day = to_local(ctx.clock.now()).date()
    with ctx.db.read() as conn:
        count, total = conn.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount_fen), 0)).where(
                Payment.terminal_id == terminal.id,
                Payment.business_date == day,
                Payment.status == "approved",
            )
        ).one()
    return day.isoformat(), int(count), int(total)
