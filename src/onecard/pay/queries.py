"""Read models: a diner's balances with the clearing date and recent transactions; a
terminal's stored answer to one of its payments; a person's cards and a card's owner.

Contract: reads only, one read transaction each.
- ``person_cards(ctx, person_id, include_cancelled)``: the person's cards in issue order
  (``card_no``, ``status``, ``issued_at``); cancelled ones only when asked for.
- ``card_owner(ctx, card_no)``: the person id the card belongs to, None for no such card.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import PaymentNotSeen
from onecard.ledger.service import account_id, balances
from onecard.org.models import Canteen, Person
from onecard.pay.models import Card, EcnyOrder, EcnyRefund, MealPeriod, Payment
from onecard.pay.service import TerminalIdentity


def my_balances(ctx: Context, person_id: int) -> dict[str, Any]:
    with ctx.db.read() as conn:
        s = account_id(conn, "person", person_id, "subsidy")
        c = account_id(conn, "person", person_id, "cash")
        got = balances(conn, [s, c])
    today = to_local(ctx.clock.now()).date()
    return {
        "subsidy_fen": got[s],
        "cash_fen": got[c],
        "total_fen": got[s] + got[c],
        # R-A10: allocated money is cleared at year end; own top-ups are kept.
        "subsidy_clears_on": date(today.year, 12, 31).isoformat(),
    }


def my_transactions(
    ctx: Context, person_id: int, limit: int = 20, payment_id: int | None = None
) -> list[dict[str, Any]]:
    """The person's latest payments (any status), newest first; with ``payment_id``, only
    that one if it is theirs (the rating page: a meal of any age)."""
    only = [Payment.id == payment_id] if payment_id is not None else []
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                Payment.id,
                Payment.created_at,
                Payment.status,
                Payment.amount_fen,
                Payment.subsidy_fen,
                Payment.cash_fen,
                Payment.refunded_fen,
                Payment.refusal_code,
                Canteen.id.label("canteen_id"),
                Canteen.name.label("canteen"),
                MealPeriod.name.label("meal"),
            )
            .join(Canteen, Canteen.id == Payment.canteen_id)
            .outerjoin(MealPeriod, MealPeriod.id == Payment.meal_period_id)
            .where(Payment.person_id == person_id, *only)
            .order_by(Payment.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "payment_id": r.id,
            "at": to_local(r.created_at).isoformat(timespec="seconds"),
            "status": r.status,
            "amount_fen": r.amount_fen,
            "subsidy_fen": r.subsidy_fen,
            "cash_fen": r.cash_fen,
            "refunded_fen": r.refunded_fen,
            "refusal_code": r.refusal_code,
            "canteen_id": r.canteen_id,
            "canteen": r.canteen,
            "meal": r.meal,
        }
        for r in rows
    ]


def stored_answer(ctx: Context, terminal: TerminalIdentity, txn_id: str) -> bytes:
    """The exact bytes this terminal was (or would have been) answered for ``txn_id`` —
    approved or refused — or ``PaymentNotSeen``. Only the terminal's own transactions:
    another terminal's id is as unknown as one never sent."""
    with ctx.db.read() as conn:
        found = conn.execute(
            select(Payment.response).where(
                Payment.terminal_id == terminal.id, Payment.txn_id == txn_id
            )
        ).scalar_one_or_none()
    if found is None:
        raise PaymentNotSeen()
    return str(found).encode()


def person_cards(ctx: Context, person_id: int, include_cancelled: bool = True) -> list[Any]:
    q = select(Card.card_no, Card.status, Card.issued_at).where(Card.person_id == person_id)
    if not include_cancelled:
        q = q.where(Card.status != "cancelled")
    with ctx.db.read() as conn:
        return list(conn.execute(q.order_by(Card.id)).all())


def card_owner(ctx: Context, card_no: str) -> int | None:
    with ctx.db.read() as conn:
        owner = conn.execute(select(Card.person_id).where(Card.card_no == card_no)).scalar()
    return None if owner is None else int(owner)


ECNY_STATUSES = ("pending", "succeeded", "failed", "refused")


def ecny_orders(
    ctx: Context, status: str = "", canteen_id: int | None = None
) -> list[dict[str, Any]]:
    """The city's e-CNY payments at the tills, newest first (the bureau's list on
    /bureau/ecny; with ``canteen_id`` one canteen's, its managers' list on
    /till/ecny/payments): order number, canteen, person, amount, refunded so far (pending
    refunds included: they are reserved), ``left_fen`` still refundable, status, when;
    ``status`` one of ``ECNY_STATUSES`` or empty for all."""
    q = (
        select(
            EcnyOrder.order_no,
            EcnyOrder.canteen_id,
            Canteen.name.label("canteen"),
            Person.name.label("person"),
            Person.staff_no,
            EcnyOrder.amount_fen,
            EcnyOrder.refunded_fen,
            EcnyOrder.status,
            EcnyOrder.created_at,
        )
        .outerjoin(Canteen, Canteen.id == EcnyOrder.canteen_id)
        .outerjoin(Person, Person.id == EcnyOrder.person_id)
        .where(EcnyOrder.kind == "payment")
        .order_by(EcnyOrder.id.desc())
    )
    if status:
        q = q.where(EcnyOrder.status == status)
    if canteen_id is not None:
        q = q.where(EcnyOrder.canteen_id == canteen_id)
    with ctx.db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for r in rows:
        r["left_fen"] = int(r["amount_fen"]) - int(r["refunded_fen"])
    return rows


def ecny_refunds(ctx: Context, order_nos: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The refunds of these e-CNY payments, by order number, oldest first: refund number,
    amount, status (``pending`` until the acquirer's answer is known), reason, who, when."""
    if not order_nos:
        return {}
    q = (
        select(
            EcnyOrder.order_no,
            EcnyRefund.refund_no,
            EcnyRefund.amount_fen,
            EcnyRefund.status,
            EcnyRefund.reason,
            EcnyRefund.actor,
            EcnyRefund.created_at,
        )
        .join(EcnyOrder, EcnyOrder.id == EcnyRefund.order_id)
        .where(EcnyOrder.order_no.in_(order_nos))
        .order_by(EcnyRefund.id)
    )
    got: dict[str, list[dict[str, Any]]] = {}
    with ctx.db.read() as conn:
        for r in conn.execute(q):
            got.setdefault(str(r.order_no), []).append(dict(r._mapping))
    return got
