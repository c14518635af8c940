"""Year-end clearing (年末清零, R-A10).

Contract: ``clear_year(ctx, actor, year)`` is one transaction that takes every subsidy
purse with a balance to zero, one entry per person (keyed ``yearend:<year>:<person>``)
and one report line each:
- ``year_end_return_to = "unit"`` (default, seed 001 第十条): subsidy −b → the person's
  unit's ``unit_returned`` +b (owed back to the unit that funded it);
- ``"finance"`` (seed 000 §三(二)4): subsidy −b → city ``finance`` +b.
Cash purses (self top-ups) are untouched. Running it again for the same year moves
nothing (the keys exist). The dry run shows the totals per unit first.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from onecard.core.context import Context
from onecard.core.errors import InvalidInput
from onecard.funding import audit
from onecard.funding.runs import Progress, RunResult, no_progress, unit_of_work
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.ledger.service import Leg, account_id, existing_entry, post, system_account
from onecard.org.actors import Actor
from onecard.org.models import Person, Unit


def clear_year(
    ctx: Context,
    actor: Actor,
    year: int,
    *,
    dry_run: bool = False,
    progress: Progress = no_progress,
) -> RunResult:
    actor.require_money_runs()
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"年份不正确：{year}")
    to = ctx.settings.year_end_return_to
    res = RunResult("year_end", f"{year} → {'单位' if to == 'unit' else '市财政'}", dry_run)
    now = ctx.clock.now()
    with unit_of_work(ctx, dry_run) as conn:
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
            )
            .join(Person, (Account.owner_kind == "person") & (Account.owner_id == Person.id))
            .join(Unit, Unit.id == Person.unit_id)
            .where(Account.kind == "subsidy", Account.balance > 0)
            .order_by(Unit.code, Person.staff_no)
        ).all()
        per_unit: dict[str, int] = defaultdict(int)
        finance = system_account(conn, "finance")
        todo = [r for r in found if existing_entry(conn, f"yearend:{year}:{r[2]}") is None]
        # Only what the purse held for this year: money booked in a later year (next
        # year's distribution, when the clearing runs late) is never cleared with it.
        as_of = _balances_up_to(conn, [int(r[0]) for r in todo], f"{year}Q4")
        rows: list[tuple[Any, ...]] = [
            (r[0], min(int(r[1]), as_of.get(int(r[0]), 0)), *r[2:]) for r in todo
        ]
        rows = [r for r in rows if r[1] > 0]
        for i, (acct, bal, pid, name, staff_no, region, uid, uname) in enumerate(rows, 1):
            per_unit[uname] += int(bal)
            res.lines.append(
                {"unit": uname, "staff_no": staff_no, "name": name, "amount_fen": int(bal)}
            )
            if not dry_run:
                target = account_id(conn, "unit", uid, "unit_returned") if to == "unit" else finance
                post(
                    conn,
                    region_id=region,
                    kind="year_end",
                    key=f"yearend:{year}:{pid}",
                    legs=[Leg(acct, -int(bal)), Leg(target, int(bal))],
                    actor=actor.label,
                    booked_at=now,
                    reference=f"{year} 年末清零 {name}",
                    memo="退回单位" if to == "unit" else "退回市财政",
                )
            progress(i, len(rows))
        res.totals = {
            "people": len(rows),
            "amount_fen": sum(per_unit.values()),
            **{f"unit:{u}": v for u, v in per_unit.items()},
        }
        res.changed = bool(rows) and not dry_run
        if not dry_run:
            audit.record(conn, ctx, actor, "year_end", res.scope, res.totals)
    return res


# Bound parameters per statement: PostgreSQL allows 65,535 and SQLite 32,766, and a
# city has more purses than either (Chenzhou: 83,600).
IN_CHUNK = 10_000


def _balances_up_to(conn: Connection, accounts: list[int], period: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for start in range(0, len(accounts), IN_CHUNK):
        q = (
            select(Posting.account_id, func.sum(Posting.amount))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(
                Posting.account_id.in_(accounts[start : start + IN_CHUNK]),
                JournalEntry.period <= period,
            )
            .group_by(Posting.account_id)
        )
        out.update({int(a): int(t) for a, t in conn.execute(q)})
    return out
