"""Payment tables: canteen meal rules and prices, cards, payments, refunds (the dishes
and goods sold by line are the catalogue's: ``catalogue/models.py``).

Contract: a ``payments`` row is the decision record of one terminal request, approved
or refused; ``(terminal_id, txn_id)`` is unique and its stored ``response`` is what a
retry gets back byte for byte. Money itself lives only in the ledger: an approved
payment points at its journal entry.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

DINER_CLASSES = ("own", "visitor", "guest")


class MealPeriod(Base):
    """A meal window of one canteen (breakfast, lunch, dinner, or any the unit adds)."""

    __tablename__ = "meal_periods"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))  # breakfast | lunch | dinner | …
    name: Mapped[str] = mapped_column(String(20))
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    # How many times one person may pay in this period per day (0 = no limit).
    per_person_limit: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (
        UniqueConstraint("canteen_id", "code"),
        CheckConstraint("starts < ends", name="window"),
        CheckConstraint("per_person_limit >= 0", name="limit_nonneg"),
    )


class MealPrice(Base):
    __tablename__ = "meal_prices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meal_period_id: Mapped[int] = mapped_column(ForeignKey("meal_periods.id"))
    diner_class: Mapped[str] = mapped_column(String(10))  # own | visitor | guest
    price_fen: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        UniqueConstraint("meal_period_id", "diner_class"),
        CheckConstraint("diner_class IN ('own','visitor','guest')", name="class"),
        CheckConstraint("price_fen > 0", name="positive"),
    )


class Card(Base):
    __tablename__ = "cards"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    card_no: Mapped[str] = mapped_column(String(20), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="active")
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    replaces_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    __table_args__ = (CheckConstraint("status IN ('active','lost','cancelled')", name="status"),)


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    txn_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))  # approved | refused | reversed
    refusal_code: Mapped[str | None] = mapped_column(String(40))
    canteen_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    home_unit_id: Mapped[int | None] = mapped_column(BigInteger)
    credential_kind: Mapped[str] = mapped_column(String(10))  # card | code | face | ecny
    meal_period_id: Mapped[int | None] = mapped_column(BigInteger)
    diner_class: Mapped[str | None] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    cash_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    business_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    response: Mapped[str] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("terminal_id", "txn_id"),
        Index("ix_payments_person_day", "person_id", "business_date"),
        Index("ix_payments_canteen_day", "canteen_id", "business_date"),
        CheckConstraint("status IN ('approved','refused','reversed')", name="status"),
        CheckConstraint("amount_fen >= 0 AND subsidy_fen >= 0 AND cash_fen >= 0", name="nonneg"),
        CheckConstraint(
            "status = 'refused' OR amount_fen = subsidy_fen + cash_fen", name="split_sums"
        ),
        CheckConstraint("refunded_fen <= amount_fen", name="refund_cap"),
    )


class Refund(Base):
    __tablename__ = "refunds"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger)
    cash_fen: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint("amount_fen > 0", name="positive"),)


class TopupOrder(Base):
    """A self top-up (自费充值) from the person's bound savings card, awaiting the bank."""

    __tablename__ = "topup_orders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    card_no: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    bank_ref: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="positive"),
        CheckConstraint("status IN ('pending','succeeded','failed')", name="status"),
    )


class RetiredPaycode(Base):
    """A payment-code token a person used before their secret was rotated (phone lost,
    or rotated on request). Codes that still carry it are refused as ``code_revoked``
    rather than ``code_invalid``, so the diner is told to refresh; no new token is ever
    drawn from these."""

    __tablename__ = "paycode_retired_tokens"
    token: Mapped[str] = mapped_column(String(8), primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    retired_at: Mapped[datetime] = mapped_column(DateTime)


class EcnyOrder(Base):
    """An e-CNY order (数字人民币, migration 0012): a terminal's payment or a diner's cash
    top-up, pulled from the diner's own wallet by its payment code.

    Written as ``pending`` in its own transaction *before* the acquirer is asked (the
    intent), then ``succeeded`` (with its journal entry, key ``ecny:<order_no>``) or
    ``failed`` once the acquirer's answer, notice or query says so; ``refused`` when the
    decision core said no and nothing was sent. ``order_no`` is our order number and the
    idempotency key at the acquirer; ``(terminal_id, txn_id)`` the terminal's."""

    __tablename__ = "ecny_orders"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    order_no: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # payment | topup
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    txn_id: Mapped[str | None] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    canteen_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    meal_period_id: Mapped[int | None] = mapped_column(BigInteger)
    diner_class: Mapped[str | None] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10))
    refusal_code: Mapped[str | None] = mapped_column(String(40))
    trade_no: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    queries: Mapped[int] = mapped_column(Integer, default=0)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    answer: Mapped[str] = mapped_column(Text, default="")  # the terminal's answer, less state
    __table_args__ = (
        UniqueConstraint("terminal_id", "txn_id"),
        CheckConstraint("kind IN ('payment','topup')", name="kind"),
        CheckConstraint("status IN ('pending','succeeded','failed','refused')", name="status"),
        CheckConstraint("amount_fen >= 0 AND refunded_fen >= 0", name="nonneg"),
        CheckConstraint("refunded_fen <= amount_fen", name="refund_cap"),
        CheckConstraint("status = 'refused' OR amount_fen > 0", name="positive"),
    )


class EcnyRefund(Base):
    """A refund of an e-CNY payment back to the diner's wallet (never to a purse):
    ``pending`` before the acquirer is asked, then ``succeeded`` (journal entry, key
    ``ecny-refund:<refund_no>``) or ``failed``."""

    __tablename__ = "ecny_refunds"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    refund_no: Mapped[str] = mapped_column(String(40), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("ecny_orders.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))
    trade_no: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="positive"),
        CheckConstraint("status IN ('pending','succeeded','failed')", name="status"),
    )


class PaymentLine(Base):
    """One item line of an approved payment (migration 0025): the item sold, how many,
    at what unit price, and the line's total — written with the payment, in its
    transaction, by every path that prices item lines (``pay.service``, ``pay.batch``).
    Reversals and refunds leave them: they are what was sold."""

    __tablename__ = "payment_lines"
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    qty: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    line_fen: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("qty BETWEEN 1 AND 999", name="qty"),
        CheckConstraint("unit_price_fen > 0", name="price_positive"),
        CheckConstraint("line_fen = qty * unit_price_fen", name="line_total"),
        # A good's sales since its last stock fold: one range (migration 0026).
        Index("ix_payment_lines_item_payment", "item_id", "payment_id"),
    )


class PaymentCashier(Base):
    """Who took a payment at the browser till (migration 0035): the signed-in cashier,
    and for a face payment that they attested the diner was present (the till's liveness
    verdict, ``web.till``). Written in the payment's own transaction when its decision
    record is (approved or refused), never on a replay; a terminal's own API payments have
    none (the device is the operator). Not an audit event: payments stay off the audit
    chain's head (``audit.service``)."""

    __tablename__ = "payment_cashiers"
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    cashier_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    face_attested: Mapped[bool] = mapped_column(Boolean, default=False)
