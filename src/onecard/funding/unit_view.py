"""A unit's own funding year, as its clerk reads it (the unit funding page and its Excel).

Contract: ``unit_funding(ctx, actor, unit_id, year)`` — the actor must administer the
unit, or be the bureau or one of its read-only overseers (``Forbidden`` otherwise, also
for a unit that does not exist, so an outsider learns nothing); reads only. It returns
plain data, money in integer fen:
- ``notices``: each of the year's funding notices — quarter, reference to quote, people
  counted, amount due, due date, the dining fund's account to pay into (number and
  name), paid so far, status (paid / short / over / unpaid), late, the difference
  (paid − due) and every payment that arrived (bank day, serial, amount, late);
- ``distributed``: one line per person paid for a quarter of the year (the entries
  ``dist:<quarter>:<person>``): staff number, name, joined / left, months counted (the
  15th rule, as the distribution computed it), amount, day paid — late joiners show
  their prorated months, leavers when they left;
- ``returned``: leavers' subsidy back to the unit (``leaver:…``), per person and day;
- ``year_end``: the year's clearing per person (``yearend:<year>:…``) and where it went;
- ``totals``: the sums a reader checks against (due, paid, distributed, returned,
  cleared).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, select

from onecard.channels.bank import DINING_FUND_ACCOUNT, PLATFORM_ACCOUNT_NAMES
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import Forbidden
from onecard.funding.distribution import months_enrolled
from onecard.funding.models import FundingNotice, FundingReceipt
from onecard.funding.notices import STATUS_ZH
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.org.actors import Actor
from onecard.org.models import Person, Unit


@dataclass
class UnitFunding:
    unit: dict[str, Any]
    year: int
    years: list[int]
    account_no: str = DINING_FUND_ACCOUNT
    account_name: str = PLATFORM_ACCOUNT_NAMES[DINING_FUND_ACCOUNT]
    notices: list[dict[str, Any]] = field(default_factory=list)
    distributed: list[dict[str, Any]] = field(default_factory=list)
    returned: list[dict[str, Any]] = field(default_factory=list)
    year_end: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)


def _status(due: int, paid: int) -> str:
    if paid == 0 and due > 0:
        return "unpaid"
    if paid < due:
        return "short"
    if paid > due:
        return "over"
    return "paid"


def unit_funding(ctx: Context, actor: Actor, unit_id: int, year: int) -> UnitFunding:
    if not (actor.manages_unit(unit_id) or actor.can_read_everything()):
        raise Forbidden()
    today = ctx.clock.today()
    with ctx.db.read() as conn:
        unit = conn.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.bank_account).where(Unit.id == unit_id)
        ).first()
        if unit is None:
            raise Forbidden()
        years = sorted(
            {
                int(q[:4])
                for q in conn.execute(
                    select(FundingNotice.quarter).where(FundingNotice.unit_id == unit_id)
                ).scalars()
            }
            | {year, today.year},
            reverse=True,
        )
        out = UnitFunding(dict(unit._mapping), year, years)
        out.notices = _notices(conn, unit_id, year, today)
        people = {
            int(p.id): p
            for p in conn.execute(
                select(
                    Person.id, Person.staff_no, Person.name, Person.joined_on, Person.left_on
                ).where(Person.unit_id == unit_id)
            )
        }
        out.distributed = _distributed(conn, people, year)
        out.returned = _keyed(conn, people, "leaver:", "leaver_return", year)
        out.year_end = _keyed(conn, people, f"yearend:{year}:", "year_end", None)
    out.totals = {
        "amount_due_fen": sum(n["amount_due_fen"] for n in out.notices),
        "paid_fen": sum(n["paid_fen"] for n in out.notices),
        "distributed_fen": sum(d["amount_fen"] for d in out.distributed),
        "returned_fen": sum(r["amount_fen"] for r in out.returned),
        "year_end_fen": sum(r["amount_fen"] for r in out.year_end),
    }
    return out


def _notices(conn: Connection, unit_id: int, year: int, today: date) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(FundingNotice.__table__)
        .where(FundingNotice.unit_id == unit_id, FundingNotice.quarter.like(f"{year}Q%"))
        .order_by(FundingNotice.quarter)
    ).all()
    receipts: dict[int, list[dict[str, Any]]] = {int(n.id): [] for n in rows}
    if rows:
        for r in conn.execute(
            select(
                FundingReceipt.notice_id,
                FundingReceipt.day,
                FundingReceipt.bank_serial,
                FundingReceipt.amount_fen,
                FundingReceipt.late,
                FundingReceipt.counterparty_name,
            )
            .where(FundingReceipt.notice_id.in_(list(receipts)))
            .order_by(FundingReceipt.day, FundingReceipt.id)
        ):
            receipts[int(r.notice_id)].append(
                {
                    "day": r.day,
                    "serial": r.bank_serial,
                    "payer": r.counterparty_name,
                    "amount_fen": int(r.amount_fen),
                    "late": bool(r.late),
                }
            )
    out = []
    for n in rows:
        got = receipts[int(n.id)]
        paid = sum(r["amount_fen"] for r in got)
        due = int(n.amount_due_fen)
        status = _status(due, paid)
        out.append(
            {
                "quarter": n.quarter,
                "reference": n.reference,
                "headcount": int(n.headcount),
                "amount_due_fen": due,
                "due_date": n.due_date,
                "paid_fen": paid,
                "difference_fen": paid - due,
                "status": status,
                "status_zh": STATUS_ZH[status],
                "late": any(r["late"] for r in got) or (paid < due and today > n.due_date),
                "last_paid": got[-1]["day"] if got else None,
                "receipts": got,
            }
        )
    return out


def _credits(conn: Connection, people: dict[int, Any], key_like: str, kind: str) -> list[Any]:
    """Entries of ``kind`` keyed ``key_like…`` and their posting on a person's subsidy
    purse of this unit (signed amount), oldest first."""
    if not people:
        return []
    return list(
        conn.execute(
            select(
                JournalEntry.idempotency_key,
                JournalEntry.booked_at,
                JournalEntry.memo,
                JournalEntry.period,
                Account.owner_id,
                Posting.amount,
            )
            .join(Posting, Posting.entry_id == JournalEntry.id)
            .join(
                Account,
                and_(
                    Account.id == Posting.account_id,
                    Account.kind == "subsidy",
                    Account.owner_kind == "person",
                ),
            )
            .where(
                JournalEntry.kind == kind,
                JournalEntry.idempotency_key.like(f"{key_like}%"),
                Account.owner_id.in_(list(people)),
            )
            .order_by(JournalEntry.booked_at, JournalEntry.id)
        )
    )


def _distributed(conn: Connection, people: dict[int, Any], year: int) -> list[dict[str, Any]]:
    out = []
    for q in (f"{year}Q{n}" for n in range(1, 5)):
        for _key, booked, memo, _period, owner, amount in _credits(
            conn, people, f"dist:{q}:", "distribution"
        ):
            p = people[int(owner)]
            out.append(
                {
                    "quarter": q,
                    "staff_no": p.staff_no,
                    "name": p.name,
                    "joined_on": p.joined_on,
                    "left_on": p.left_on,
                    "months": _months(memo, q, p),
                    "amount_fen": int(amount),
                    "paid_on": to_local(booked).date(),
                }
            )
    return out


def _months(memo: str, quarter: str, p: Any) -> int:
    """The months the run counted, as its entry says ("2/3 个月"); the 15th rule again
    for an entry that does not say (a person who left later was paid while enrolled)."""
    head = (memo or "").split("/", 1)[0]
    return int(head) if head.isdigit() else months_enrolled(quarter, p.joined_on, None)


def _keyed(
    conn: Connection, people: dict[int, Any], key_like: str, kind: str, year: int | None
) -> list[dict[str, Any]]:
    out = []
    for _key, booked, memo, period, owner, amount in _credits(conn, people, key_like, kind):
        if year is not None and not str(period).startswith(str(year)):
            continue
        p = people[int(owner)]
        out.append(
            {
                "staff_no": p.staff_no,
                "name": p.name,
                "left_on": p.left_on,
                "amount_fen": -int(amount),  # the purse's debit is what the unit got back
                "on": to_local(booked).date(),
                "to": memo or "退回单位",
            }
        )
    return out


# --- Excel -------------------------------------------------------------------------------
MONEY_FORMAT = "0.00"


def to_xlsx(view: UnitFunding) -> bytes:
    """The page as a workbook: one sheet per table, money as numbers of yuan (exact,
    from fen) formatted ``0.00``, a 合计 row under each table; text cells through
    ``core.sheets.xlsx_append`` (never a formula)."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    from onecard.core.sheets import xlsx_append
    from onecard.org.tables import yuan_number

    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    title = f"{view.unit['name']} {view.year} 年就餐经费"

    def sheet(name: str, headers: list[str], rows: list[list[Any]], money: set[int]) -> None:
        ws = wb.create_sheet(name)
        xlsx_append(ws, [title])
        xlsx_append(ws, headers)
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for r in rows:
            xlsx_append(ws, [yuan_number(v) if i in money else v for i, v in enumerate(r)])
        total: list[Any] = ["合计"] + [""] * (len(headers) - 1)
        for i in money:
            total[i] = yuan_number(sum(int(r[i]) for r in rows))
        xlsx_append(ws, total)
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
        for row in ws.iter_rows(min_row=3):
            for i in money:
                row[i].number_format = MONEY_FORMAT
        for i, h in enumerate(headers):
            ws.column_dimensions[chr(ord("A") + i)].width = max(12, len(h) * 2 + 2)

    sheet(
        "缴款通知",
        [
            "季度",
            "通知编号",
            "人数",
            "应缴(元)",
            "截止日",
            "已缴(元)",
            "差额(元)",
            "状态",
            "逾期",
            "最近到账",
        ],
        [
            [
                n["quarter"],
                n["reference"],
                n["headcount"],
                n["amount_due_fen"],
                n["due_date"],
                n["paid_fen"],
                n["difference_fen"],
                n["status_zh"],
                "逾期" if n["late"] else "",
                n["last_paid"],
            ]
            for n in view.notices
        ],
        {3, 5, 6},
    )
    sheet(
        "到账明细",
        ["季度", "通知编号", "到账日", "银行流水号", "付款人", "金额(元)", "逾期"],
        [
            [
                n["quarter"],
                n["reference"],
                r["day"],
                r["serial"],
                r["payer"],
                r["amount_fen"],
                "逾期" if r["late"] else "",
            ]
            for n in view.notices
            for r in n["receipts"]
        ],
        {5},
    )
    sheet(
        "拨付明细",
        ["季度", "工号", "姓名", "入职日", "离职日", "计发月数", "金额(元)", "拨付日"],
        [
            [
                d["quarter"],
                d["staff_no"],
                d["name"],
                d["joined_on"],
                d["left_on"],
                d["months"],
                d["amount_fen"],
                d["paid_on"],
            ]
            for d in view.distributed
        ],
        {6},
    )
    sheet(
        "离职退回",
        ["工号", "姓名", "离职日", "退回金额(元)", "退回日"],
        [[r["staff_no"], r["name"], r["left_on"], r["amount_fen"], r["on"]] for r in view.returned],
        {3},
    )
    sheet(
        "年末清零",
        ["工号", "姓名", "清零金额(元)", "清零日", "去向"],
        [[r["staff_no"], r["name"], r["amount_fen"], r["on"], r["to"]] for r in view.year_end],
        {2},
    )
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=3):
            for cell in row:
                if isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
