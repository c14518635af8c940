"""A diner's statement (账户明细): every movement of their two purses, read from the ledger.

Contract:
- ``statement(ctx, person_id, year=None, page=1, per_page=20)`` lists the journal
  entries that touched the person's subsidy or cash purse — meal payments, reversals,
  refunds, quarterly allocations, top-ups, year-end clearing, money returned on leaving —
  newest first, ``per_page`` rows a page (LIMIT/OFFSET, one more row read to know whether
  a next page exists). ``year`` is a Beijing calendar year (entries booked in it); None
  means every year. Each row has the signed change of each purse (+ money in, − money
  out), the two purses' total after the entry (a running balance over *all* the person's
  entries, so a filtered page still shows true balances), the canteen (for payments,
  reversals and refunds: the canteen whose payable the entry moved), and for a payment its
  id, status, meal and whether it was rated.
- The page is ONE SQL statement (a window sum over the person's entries, then the year
  filter and the page), on SQLite and PostgreSQL alike; ``statement_years`` is a second,
  small one for the year selector.
- A quarterly allocation's row has ``months``: the months of the quarter it paid for, read
  from the entry's memo as ``funding.distribution`` writes it ("2/3 个月"; the journal
  keeps no other field for it), None when the memo says something else — the page words
  it in its language rather than showing the stored Chinese.
- ``KIND_WORDS`` names every entry kind in zh-CN and English; an unknown kind reads
  "其他" / "Other" with the entry's reference as detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select

from onecard.core.clock import from_local, to_local
from onecard.core.context import Context
from onecard.feedback.models import Rating
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.org.models import Canteen
from onecard.pay.models import MealPeriod, Payment

MAX_PER_PAGE = 100
# The memo of a quarterly allocation (funding.distribution): "<months>/3 个月".
_MONTHS_MEMO = re.compile(r"([0-3])/3 个月")


def allocation_months(memo: str) -> int | None:
    """The months a quarterly allocation paid for, from its memo; None if it does not say."""
    found = _MONTHS_MEMO.fullmatch(memo.strip())
    return int(found.group(1)) if found else None


# Entry kind → (zh-CN, English). Only kinds that move a person's purse appear here.
KIND_WORDS: dict[str, tuple[str, str]] = {
    "payment": ("消费", "Meal payment"),
    "reversal": ("冲正退回", "Payment reversed"),
    "refund": ("退款", "Refund"),
    "topup": ("自费充值", "Top-up"),
    "ecny_topup": ("数字人民币充值", "e-CNY top-up"),
    "distribution": ("经费拨付", "Quarterly allocation"),
    "year_end": ("年末清零", "Year-end clearing"),
    "leaver_return": ("离职补贴退回单位", "Subsidy returned on leaving"),
    "leaver_refund": ("离职现金退还", "Cash paid back on leaving"),
    "payout_failed": ("退还失败，款项退回", "Payout returned by the bank"),
    "preorder_hold": ("预订冻结", "Held for a pre-order"),  # menus/
    "preorder_release": ("预订解冻", "Pre-order hold released"),
}
OTHER = ("其他", "Other")


def kind_words(kind: str, lang: str) -> str:
    zh, en = KIND_WORDS.get(kind, OTHER)
    return en if lang == "en" else zh


@dataclass
class Statement:
    year: int | None
    page: int
    per_page: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    has_next: bool = False

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    """A Beijing calendar year as naive UTC bounds (booked_at is naive UTC)."""
    return from_local(datetime(year, 1, 1)), from_local(datetime(year + 1, 1, 1))


def statement(
    ctx: Context, person_id: int, year: int | None = None, page: int = 1, per_page: int = 20
) -> Statement:
    page = max(1, page)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    purse = and_(
        Account.owner_kind == "person",
        Account.owner_id == person_id,
        Account.kind.in_(("subsidy", "cash")),
    )
    # 1. One row per entry that touched the purses: each purse's change.
    per_entry = (
        select(
            JournalEntry.id.label("entry_id"),
            JournalEntry.kind,
            JournalEntry.period,
            JournalEntry.booked_at,
            JournalEntry.reference,
            JournalEntry.memo,
            func.sum(case((Account.kind == "subsidy", Posting.amount), else_=0)).label("subsidy"),
            func.sum(case((Account.kind == "cash", Posting.amount), else_=0)).label("cash"),
        )
        .select_from(Posting)
        .join(Account, Account.id == Posting.account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(purse)
        .group_by(
            JournalEntry.id,
            JournalEntry.kind,
            JournalEntry.period,
            JournalEntry.booked_at,
            JournalEntry.reference,
            JournalEntry.memo,
        )
        .subquery("per_entry")
    )
    # 2. The running balance after each entry, over all of the person's entries (entries
    #    are numbered in the order they were written, so id order is booking order).
    running = select(
        per_entry,
        func.sum(per_entry.c.subsidy + per_entry.c.cash)
        .over(order_by=per_entry.c.entry_id)
        .label("balance_after"),
    ).subquery("running")
    # The canteen an entry paid or gave back to: the canteen account among its postings.
    canteen_posting = Posting.__table__.alias("cp")
    canteen_account = Account.__table__.alias("ca")
    canteen_name = (
        select(Canteen.name)
        .select_from(canteen_posting)
        .join(canteen_account, canteen_account.c.id == canteen_posting.c.account_id)
        .join(Canteen, Canteen.id == canteen_account.c.owner_id)
        .where(
            canteen_posting.c.entry_id == running.c.entry_id,
            canteen_account.c.owner_kind == "canteen",
        )
        .limit(1)
        .scalar_subquery()
    )
    q = (
        select(
            running,
            canteen_name.label("canteen"),
            Payment.id.label("payment_id"),
            Payment.status.label("payment_status"),
            Payment.amount_fen,
            Payment.refunded_fen,
            MealPeriod.name.label("meal"),
            Rating.id.label("rating_id"),
        )
        .select_from(running)
        # The person's own payments only (ix_payments_person_day), matched by entry.
        .outerjoin(
            Payment,
            and_(Payment.person_id == person_id, Payment.entry_id == running.c.entry_id),
        )
        .outerjoin(MealPeriod, MealPeriod.id == Payment.meal_period_id)
        .outerjoin(Rating, Rating.payment_id == Payment.id)
        .order_by(running.c.entry_id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    )
    if year is not None:
        lo, hi = _year_bounds(year)
        q = q.where(running.c.booked_at >= lo, running.c.booked_at < hi)
    with ctx.db.read() as conn:
        found = conn.execute(q).all()
    out = Statement(year, page, per_page, has_next=len(found) > per_page)
    for r in found[:per_page]:
        subsidy, cash = int(r.subsidy), int(r.cash)
        paid = r.payment_id is not None
        out.rows.append(
            {
                "entry_id": int(r.entry_id),
                "kind": r.kind,
                "period": r.period,
                "at": to_local(r.booked_at),
                "subsidy_fen": subsidy,
                "cash_fen": cash,
                "change_fen": subsidy + cash,
                "balance_after_fen": int(r.balance_after),
                "canteen": r.canteen,
                "meal": r.meal,
                "reference": r.reference or "",
                "memo": r.memo or "",
                "months": allocation_months(r.memo or "") if r.kind == "distribution" else None,
                "payment_id": int(r.payment_id) if paid else None,
                "payment_status": r.payment_status,
                "refunded_fen": int(r.refunded_fen or 0),
                "rated": r.rating_id is not None,
                "rateable": paid
                and r.payment_status == "approved"
                and r.rating_id is None
                and int(r.refunded_fen or 0) < int(r.amount_fen or 0),
            }
        )
    return out


def statement_years(ctx: Context, person_id: int) -> list[int]:
    """The Beijing years from the person's first purse entry to this year, newest first."""
    with ctx.db.read() as conn:
        first = conn.execute(
            select(func.min(JournalEntry.booked_at))
            .select_from(Posting)
            .join(Account, Account.id == Posting.account_id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(
                Account.owner_kind == "person",
                Account.owner_id == person_id,
                Account.kind.in_(("subsidy", "cash")),
            )
        ).scalar()
    this_year = to_local(ctx.clock.now()).year
    start = to_local(first).year if first is not None else this_year
    return list(range(max(this_year, start), min(start, this_year) - 1, -1))
