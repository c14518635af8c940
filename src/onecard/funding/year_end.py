"""Year-end clearing (年末清零, R-A10).

Contract: ``clear_year(ctx, actor, year)`` is one transaction that takes every subsidy
purse with a balance to zero, one entry per person (keyed ``yearend:<year>:<person>``)
and one report line each:
- ``year_end_return_to = "unit"`` (default, seed 001 第十条): subsidy −b → the person's
  unit's ``unit_returned`` +b (owed back to the unit that funded it);
- ``"finance"`` (seed 000 §三(二)4): subsidy −b → city ``finance`` +b.
It runs only after the year's Q4 is settled (``funding.calendar``; an audited
``override_calendar`` reason for a real emergency).
The same transaction deletes the face templates of everyone who left
(``faces.service.purge_leavers``). Cash purses (self top-ups) are untouched. Running it again for the same year moves
nothing (the keys exist). The dry run shows the totals per unit first. Only what a purse
held at the end of the year is cleared: its cached balance less what later periods'
entries changed (read from those entries alone). The entries are written with
``ledger.post_many``: a constant number of statements per ``IN_CHUNK`` purses (SQLite)
or ``ARRAY_CHUNK`` (PostgreSQL, where a list is one array parameter).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import aliased

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.core.errors import InvalidInput, NotFound
from onecard.core.runs import Progress, RunResult, no_progress, unit_of_work
from onecard.faces import service as faces
from onecard.funding import calendar, regions
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.ledger.service import ARRAY_CHUNK as LEDGER_ARRAY_CHUNK
from onecard.ledger.service import IN_CHUNK as LEDGER_CHUNK
from onecard.ledger.service import (
    Leg,
    NewEntry,
    chunked,
    known_entries,
    post_many,
)
from onecard.org.actors import Actor
from onecard.org.models import Person, Unit

# Purses per statement and per post_many call (tests patch it to exercise chunking).
IN_CHUNK = LEDGER_CHUNK
ARRAY_CHUNK = LEDGER_ARRAY_CHUNK


def clear_year(
    ctx: Context,
    actor: Actor,
    year: int,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
    override_calendar: str | None = None,
    region: str | None = None,
) -> RunResult:
    """Clear the subsidy purses of the people of the fund region ``region`` (its code;
    the top's when None), once that region's Q4 is closed."""
    actor.require_money_runs(of_region=True)
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"年份不正确：{year}")
    override = calendar.clean_reason(override_calendar)
    to = ctx.settings.year_end_return_to
    res = RunResult("year_end", f"{year} → {'单位' if to == 'unit' else '市财政'}", dry_run)
    now = ctx.clock.now()
    with unit_of_work(ctx, dry_run) as conn:
        fund = regions.resolve(conn, region, actor)
        res.scope = fund.scope(res.scope)
        # Only after the year's last (Q4) settlement, unless overridden with a reason.
        objection = calendar.year_end_objection(conn, year, fund)
        calendar.guard(conn, ctx, actor, objection, override, res)
        returned = aliased(Account)
        found = conn.execute(
            select(
                Account.id,
                Account.balance,
                Person.id,
                Person.name,
                Person.staff_no,
                Person.region_id,
                Unit.id,
                Unit.name,
                returned.id,
            )
            .join(Person, (Account.owner_kind == "person") & (Account.owner_id == Person.id))
            .join(Unit, Unit.id == Person.unit_id)
            .outerjoin(
                returned,
                (returned.owner_kind == "unit")
                & (returned.owner_id == Unit.id)
                & (returned.kind == "unit_returned"),
            )
            .where(
                Account.kind == "subsidy",
                Account.balance > 0,
                Person.region_id.in_(fund.members),
            )
            .order_by(Unit.code, Person.staff_no)
        ).all()
        per_unit: dict[str, int] = defaultdict(int)
        finance = regions.system_acct(conn, fund, "finance")
        keys = [yearend_key(year, int(r[2])) for r in found]
        size = ARRAY_CHUNK if conn.dialect.name == "postgresql" else IN_CHUNK
        done = set(known_entries(conn, keys, size))
        # Only what the purse held for this year: money booked in a later year (next
        # year's distribution, when the clearing runs late) is never cleared with it.
        later = _later_postings(conn, f"{year}Q4")
        rows: list[tuple[Any, ...]] = []
        for r, key in zip(found, keys, strict=True):
            if key in done:
                continue
            bal = int(r[1])
            held = min(bal, bal - later.get(int(r[0]), 0))
            if held > 0:
                rows.append((key, r[0], held, *r[2:]))
        entries: list[NewEntry] = []
        memo = "退回单位" if to == "unit" else "退回市财政"
        for key, acct, bal, _pid, name, staff_no, home, uid, uname, ret in rows:
            per_unit[uname] += int(bal)
            res.lines.append(
                {"unit": uname, "staff_no": staff_no, "name": name, "amount_fen": int(bal)}
            )
            if dry_run:
                continue
            if to == "unit" and ret is None:
                raise NotFound(what=f"account unit:{uid}:unit_returned")
            target = int(ret) if to == "unit" else finance
            entries.append(
                NewEntry(
                    home,
                    "year_end",
                    key,
                    [Leg(int(acct), -int(bal)), Leg(target, int(bal))],
                    reference=f"{year} 年末清零 {name}",
                    memo=memo,
                )
            )
        posted = 0
        for part_entries in chunked(entries, size):
            post_many(conn, part_entries, actor=actor.label, booked_at=now)
            posted += len(part_entries)
            progress(posted, len(rows))
        if dry_run and rows:
            progress(len(rows), len(rows))
        res.totals = {
            "people": len(rows),
            "amount_fen": sum(per_unit.values()),
            **{f"unit:{u}": v for u, v in per_unit.items()},
        }
        res.changed = bool(rows) and not dry_run
        if not dry_run:
            # Face data of the fund region's people who left (R-F3); other regions'
            # leavers wait for their own year end, by their own bureau.
            faces.purge_leavers(conn, ctx, actor, fund.members)
            audit.record(conn, ctx, actor, "year_end", res.scope, res.totals)
    return res


def yearend_key(year: int, person_id: int) -> str:
    return f"yearend:{year}:{person_id}"


def _later_postings(conn: Connection, period: str) -> dict[int, int]:
    """Net change of every subsidy purse in periods after ``period`` (usually none): the
    purse held its cached balance minus this at the end of ``period``. Read from the
    later entries (``journal_entries.period`` is indexed), never the whole year's."""
    q = (
        select(Posting.account_id, func.sum(Posting.amount))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id)
        .where(JournalEntry.period > period, Account.kind == "subsidy")
        .group_by(Posting.account_id)
    )
    return {int(a): int(t) for a, t in conn.execute(q)}
