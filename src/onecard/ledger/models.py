"""Ledger tables. The invariants, stated once:

1. Every journal entry's postings sum to zero (``SUM(amount) = 0``). Checked in Python
   before insert and, on PostgreSQL, by a DEFERRABLE constraint trigger at commit.
2. Nothing in ``journal_entries`` or ``postings`` is ever updated or deleted; triggers
   refuse it on both SQLite and PostgreSQL. A correction is a new entry.
3. A posting's amount is a non-zero integer of fen (CHECK); positive credits the account
   (more money held there), negative debits it.
4. An account that may not go negative (every person's purse, every sub-account of the
   system's two lines) never does: purses carry a cached ``balance`` changed only by a
   guarded ``UPDATE … WHERE balance + :amount >= 0`` in the same transaction as the
   postings, backed by ``CHECK (allow_negative OR balance >= 0)``.
5. Only accounts no payment touches are cached: per-person purses, and each unit's
   income line (written only by funds arriving and the money runs; a quarter's
   distribution debits it once per person, so deriving it meant summing 83,600 postings
   a quarter). Rows shared by many payers (a canteen's payable, the system accounts) keep
   no running balance: it is derived from postings when read, so no payment ever waits
   on another payer's row.
6. ``idempotency_key`` is unique: an operation a client may retry posts at most once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

# Account kinds. Per person: two purses. Per unit: its sub-account of the system income
# line (funds paid in, not yet distributed) and what is owed back to it. Per canteen: its
# sub-account of the expenditure line (consumption not yet settled). Singletons: the
# bureau's dining-fund bank account, fee income, city finance, external clearing.
PERSON_KINDS = ("subsidy", "cash")
UNIT_KINDS = ("unit_income", "unit_returned")
CANTEEN_KINDS = ("canteen_payable",)
# ``region_due``: what a fund region owes other fund regions for its people's meals there
# (positive) or is owed for others' meals at its canteens (negative), until the quarter's
# inter-region clearing (``interregion``) pays it; every fund region's books balance on
# their own because a cross-region payment posts both regions' halves (pay.decide).
SYSTEM_KINDS = (
    "dining_fund",
    "fee_income",
    "finance",
    "bank_clearing",
    "ecny_clearing",
    "region_due",
)
# Community canteens (``community/``): a resident's wallet (a purse, cached); a community
# canteen's sales, subsidies awaiting the monthly claim, and what is owed to it; the civil
# affairs bureau's subsidy fund (a system account opened by ``community.service``).
RESIDENT_KINDS = ("resident_wallet",)
COMMUNITY_KINDS = ("cc_sales", "cc_subsidy", "cc_due", "civil_subsidy")
ACCOUNT_KINDS = (
    PERSON_KINDS + UNIT_KINDS + CANTEEN_KINDS + SYSTEM_KINDS + RESIDENT_KINDS + COMMUNITY_KINDS
)

# Clearing accounts mirror the outside world: money arriving makes them negative. A
# person's ``offline_debt`` (opened when a late offline record finds the purses short,
# ``terminals.debts``) is negative by what they owe until their next allocation.
NEGATIVE_ALLOWED = ("bank_clearing", "ecny_clearing", "offline_debt", "region_due")

# Accounts with a cached ``balance`` (invariant 5).
CACHED_KINDS = (*PERSON_KINDS, "unit_income", *RESIDENT_KINDS)


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    owner_kind: Mapped[str] = mapped_column(String(10))  # person|unit|canteen|system
    owner_id: Mapped[int] = mapped_column(BigInteger, default=0)
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    __table_args__ = (
        UniqueConstraint("owner_kind", "owner_id", "kind"),
        CheckConstraint("allow_negative OR balance >= 0", name="no_negative"),
        CheckConstraint("cached OR balance = 0", name="uncached_zero"),
    )


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    # Accounting period (quarter, '2026Q1') the entry counts in; a closed period never
    # receives a new entry: late arrivals are booked into the first open one.
    period: Mapped[str] = mapped_column(String(6), index=True)
    booked_at: Mapped[datetime] = mapped_column(DateTime)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(60))
    reference: Mapped[str] = mapped_column(String(200), default="")
    memo: Mapped[str] = mapped_column(String(200), default="")
    # How many postings the entry has. Written with the entry, so ``ledger verify`` can
    # check that every entry has exactly its postings (none lost, none added later) by
    # scanning entries and postings side by side instead of grouping postings by entry.
    legs: Mapped[int] = mapped_column(SmallInteger)


class Posting(Base):
    __tablename__ = "postings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        Index("ix_postings_entry", "entry_id"),
        Index("ix_postings_account", "account_id", "entry_id"),
    )


class LedgerPeriod(Base):
    """A quarter of a fund region (``org.fund_regions``) closed by that region's
    settlement: no entry of a region sharing that fund takes it any more."""

    __tablename__ = "ledger_periods"
    region_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(DateTime)
    closed_by: Mapped[str] = mapped_column(String(60))
