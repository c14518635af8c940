"""Self top-up (自费充值, R-A8) through the bank, and the refusal of any withdrawal (R-A9).

Contract:
- ``request_topup`` records a pending order (its own transaction) and asks the bank to
  debit the person's bound savings card (R-A2). The same ``order_id`` again is a retry:
  no second order, and the bank is idempotent per order id too.
- ``apply_topup_notification`` (reached through ``funding.notifications``, which
  verifies the bank's signature and routes each verdict to its order's kind) in one
  transaction credits the cash purse (bank clearing → cash) for a success or marks the
  order failed. A notification delivered twice credits once (the order is no longer
  pending; the entry's idempotency key).
- ``withdraw`` always raises ``WithdrawalRefused``: meal money never leaves as cash.
  The only payout to a person is a leaver's own cash back to their bound card, done by
  the funding runs, never on request at a till.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from onecard.channels.bank import BankAck, Notification, gateway
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import (
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
    NotFound,
    PersonInactive,
    WithdrawalRefused,
)
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.ledger.service import Leg, account_id, fund_region_of, post, system_account
from onecard.org.models import Person
from onecard.pay.models import TopupOrder

MAX_TOPUP_FEN = 100_000_00  # 100,000 yuan a time is more than any canteen needs


@dataclass(frozen=True)
class TopupRequested:
    order_id: str
    status: str
    bank_ref: str | None


def new_order_id() -> str:
    return "T" + secrets.token_hex(10).upper()


def request_topup(
    ctx: Context, person_id: int, amount_fen: int, order_id: str | None = None
) -> TopupRequested:
    if type(amount_fen) is not int or not 0 < amount_fen <= min(MAX_TOPUP_FEN, MAX_AMOUNT_FEN):
        raise InvalidAmount()
    order_id = order_id or new_order_id()
    with ctx.db.begin() as conn:
        person = conn.execute(
            select(Person.status, Person.bank_card_no).where(Person.id == person_id)
        ).first()
        if person is None:
            raise NotFound(what="人员")
        if person.status != "active":
            raise PersonInactive()
        if not person.bank_card_no:
            raise InvalidInput("未绑定银行卡，请先在单位办理绑卡")
        prior = conn.execute(
            select(TopupOrder).where(TopupOrder.order_id == order_id)
        ).one_or_none()
        if prior is not None:
            if prior.person_id != person_id or prior.amount_fen != amount_fen:
                raise IdempotencyConflict()
            if prior.status != "pending":
                return TopupRequested(order_id, prior.status, prior.bank_ref)
        else:
            conn.execute(
                insert(TopupOrder).values(
                    order_id=order_id,
                    person_id=person_id,
                    card_no=person.bank_card_no,
                    amount_fen=amount_fen,
                    status="pending",
                    created_at=ctx.clock.now(),
                )
            )
        card_no = str(person.bank_card_no)
    # The bank is asked after the order is committed: a crash in between leaves a
    # pending order the person (or a sweeper) retries with the same id.
    ack: BankAck = gateway(ctx).debit_card_for_topup(order_id, card_no, amount_fen)
    with ctx.db.begin() as conn:
        conn.execute(
            update(TopupOrder).where(TopupOrder.order_id == order_id).values(bank_ref=ack.bank_ref)
        )
    return TopupRequested(order_id, "pending", ack.bank_ref)


def apply_topup_notification(ctx: Context, note: Notification) -> str:
    """Apply the bank's verdict on one top-up order once: an order that is no longer
    pending keeps its state. Returns the order's status afterwards."""
    with ctx.db.begin() as conn:
        order = conn.execute(
            select(TopupOrder).where(TopupOrder.order_id == note.order_id).with_for_update()
        ).one_or_none()
        if order is None:
            raise NotFound(what=f"充值订单 {note.order_id}")
        if order.status != "pending":
            return str(order.status)
        if note.status != "succeeded":
            conn.execute(
                update(TopupOrder)
                .where(TopupOrder.id == order.id)
                .values(
                    status="failed",
                    failure_reason=note.failure_reason,
                    completed_at=note.occurred_at,
                )
            )
            return "failed"
        if note.amount_fen != order.amount_fen:
            raise IdempotencyConflict("银行通知金额与订单不符")
        region = conn.execute(
            select(Person.region_id).where(Person.id == order.person_id)
        ).scalar_one()
        now = ctx.clock.now()
        entry_id, _ = post(
            conn,
            region_id=region,
            kind="topup",
            key=f"topup:{order.order_id}",
            legs=[
                Leg(
                    system_account(conn, "bank_clearing", fund_region_of(conn, region)),
                    -order.amount_fen,
                ),
                Leg(account_id(conn, "person", order.person_id, "cash"), order.amount_fen),
            ],
            actor="bank",
            booked_at=now,
            business_day=to_local(now).date(),
            reference=f"充值 {order.order_id} {note.bank_ref}",
        )
        conn.execute(
            update(TopupOrder)
            .where(TopupOrder.id == order.id)
            .values(status="succeeded", entry_id=entry_id, completed_at=note.occurred_at)
        )
        return "succeeded"


def withdraw(ctx: Context, person_id: int, amount_fen: int) -> None:
    """R-A9: 不得提现. There is no path from a purse to cash in hand."""
    raise WithdrawalRefused()


def order_of(ctx: Context, order_id: str) -> dict[str, Any]:
    """A top-up order as the diner's page shows it (id, status, amount, reason)."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                TopupOrder.order_id,
                TopupOrder.status,
                TopupOrder.amount_fen,
                TopupOrder.failure_reason,
            ).where(TopupOrder.order_id == order_id)
        ).one()
    return dict(row._mapping)
