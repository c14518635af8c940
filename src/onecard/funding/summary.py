"""The summary a money run's preview opens with: units, people, totals, and the same
figures for the quarter (or year) before, so a person sees at a glance what is unusual.

Contract: ``summarise(ctx, kind, period, results)`` → rows ``{"key", "label", "now",
"before", "money"}`` (integers: fen when ``money``, else counts; ``before`` None when
there is nothing to compare with). ``kind`` is a run of the bureau's run page
(``notices``, ``distribute``, ``settle``, ``year_end``; other runs have no summary: an
empty list). ``period`` is the quarter (``2026Q2``) or, for ``year_end``, the year.
"Before" is read from what was recorded for the previous period (its notices, its
distribution entries, its settlements, last year's clearing entries); reads only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from onecard.core.context import Context
from onecard.core.runs import RunResult
from onecard.funding import regions
from onecard.funding.models import FundingNotice, Settlement
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.org.models import Person, Unit

LABELS = {
    "units": "单位数",
    "people": "人数",
    "amount_due_fen": "应缴合计（元）",
    "amount_fen": "拨付合计（元）",
    "canteens": "食堂数",
    "gross_fen": "消费总额（元）",
    "fee_fen": "系统管理费（元）",
    "withheld_fen": "考核扣减（元）",
    "net_fen": "实付（元）",
    "cleared_fen": "清零金额（元）",
}


def previous_quarter(q: str) -> str:
    year, n = int(q[:4]), int(q[5])
    return f"{year - 1}Q4" if n == 1 else f"{year}Q{n - 1}"


def _row(key: str, now: int, before: int | None) -> dict[str, Any]:
    return {
        "key": key,
        "label": LABELS[key],
        "now": int(now),
        "before": None if before is None else int(before),
        "money": key.endswith("_fen"),
    }


def _entries(conn: Connection, prefix: str, members: Sequence[int]) -> tuple[int, int, int]:
    """(people, units, fen) credited to subsidy purses by entries keyed ``prefix…``."""
    found = conn.execute(
        select(
            func.count(func.distinct(Person.id)),
            func.count(func.distinct(Person.unit_id)),
            func.coalesce(func.sum(Posting.amount), 0),
        )
        .select_from(JournalEntry)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .join(Person, (Account.owner_kind == "person") & (Account.owner_id == Person.id))
        .where(
            JournalEntry.idempotency_key.like(f"{prefix}%"),
            Account.kind == "subsidy",
            Person.region_id.in_(members),
        )
    ).one()
    return int(found[0]), int(found[1]), abs(int(found[2]))


def summarise(
    ctx: Context,
    kind: str,
    period: str,
    results: Sequence[RunResult],
    region: str | None = None,
) -> list[dict[str, Any]]:
    """``region``: the fund region the run was for (its code; the top's when None): the
    previous period's figures are that region's too."""
    if not results or kind not in ("notices", "distribute", "settle", "year_end"):
        return []
    with ctx.db.read() as conn:
        members = regions.resolve(conn, region).members
        if kind == "notices":
            return _notices(conn, period, results[0], members)
        if kind == "distribute":
            return _distribution(conn, period, results, members)
        if kind == "settle":
            return _settlement(conn, period, results[0], members)
        return _year_end(conn, int(period), results[0], members)


def _notices(
    conn: Connection, quarter: str, res: RunResult, members: Sequence[int]
) -> list[dict[str, Any]]:
    units, people, due = conn.execute(
        select(
            func.count(FundingNotice.id),
            func.coalesce(func.sum(FundingNotice.headcount), 0),
            func.coalesce(func.sum(FundingNotice.amount_due_fen), 0),
        )
        .join(Unit, Unit.id == FundingNotice.unit_id)
        .where(FundingNotice.quarter == previous_quarter(quarter), Unit.region_id.in_(members))
    ).one()
    had = int(units) > 0
    return [
        _row("units", len(res.lines), units if had else None),
        _row("people", sum(int(ln["headcount"]) for ln in res.lines), people if had else None),
        _row("amount_due_fen", int(res.totals.get("amount_due_fen", 0)), due if had else None),
    ]


def _distribution(
    conn: Connection, quarter: str, results: Sequence[RunResult], members: Sequence[int]
) -> list[dict[str, Any]]:
    # The quarter as it will stand after this run: what was paid before, plus what this
    # run pays (a unit short of funds is paid nothing).
    people = units = amount = 0
    for r in results:
        t = r.totals
        pays = 0 < int(t.get("amount_fen", 0)) <= int(t.get("available_fen", 0))
        done = sum(1 for ln in r.lines if ln.get("done"))
        n = done + (int(t.get("new_people", 0)) if pays else 0)
        people += n
        units += 1 if n else 0
        amount += int(t.get("already_fen", 0)) + (int(t.get("amount_fen", 0)) if pays else 0)
    b_people, b_units, b_fen = _entries(conn, f"dist:{previous_quarter(quarter)}:", members)
    had = b_people > 0
    return [
        _row("units", units, b_units if had else None),
        _row("people", people, b_people if had else None),
        _row("amount_fen", amount, b_fen if had else None),
    ]


def _settlement(
    conn: Connection, quarter: str, res: RunResult, members: Sequence[int]
) -> list[dict[str, Any]]:
    keys = ("gross_fen", "fee_fen", "withheld_fen", "net_fen")
    before = conn.execute(
        select(
            func.count(Settlement.id),
            *[func.coalesce(func.sum(getattr(Settlement, k)), 0) for k in keys],
        ).where(Settlement.quarter == previous_quarter(quarter), Settlement.region_id.in_(members))
    ).one()
    had = int(before[0]) > 0
    rows = [_row("canteens", len(res.lines), before[0] if had else None)]
    for i, k in enumerate(keys, start=1):
        rows.append(_row(k, int(res.totals.get(k, 0)), before[i] if had else None))
    return rows


def _year_end(
    conn: Connection, year: int, res: RunResult, members: Sequence[int]
) -> list[dict[str, Any]]:
    b_people, b_units, b_fen = _entries(conn, f"yearend:{year - 1}:", members)
    had = b_people > 0
    units = len({ln["unit"] for ln in res.lines})
    return [
        _row("units", units, b_units if had else None),
        _row("people", int(res.totals.get("people", 0)), b_people if had else None),
        _row("cleared_fen", int(res.totals.get("amount_fen", 0)), b_fen if had else None),
    ]
