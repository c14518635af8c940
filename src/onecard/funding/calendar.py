"""The money runs' calendar: when settlement, year-end clearing and distribution may run.

Contract (dates are Beijing dates, ``ctx.clock.today()``):
- settlement of a quarter only once the quarter has ended (on or after the first day
  of the next quarter) — ``SettlementTooEarly``;
- year-end clearing of a year only after its Q4 is settled (the period closed) —
  ``YearEndBeforeSettlement``;
- distribution of a quarter only once its funding notices are out (for one unit: that
  unit's notice; for every unit: the quarter's) — ``NoticesNotIssued``.

``guard`` is called inside the run's own transaction, before anything is written:
- no objection: nothing happens;
- a dry run: the refusal is listed in the result's ``problems`` (the preview shows the
  figures and says the real run will be refused), nothing written;
- a real run without an override: the refusal is raised (HTTP 409, exit 5);
- a real run with an override reason (a real emergency): the run goes on, an audit
  record ``calendar_override`` (who, when, the reason, the rule it overrode) is written
  in the same transaction, and the result says so in ``notes``.
An override given when the calendar has no objection is ignored (nothing to record).

``run_objection(ctx, kind, params)`` is what a run's preview page shows: the calendar's
objection to the run ``kind`` (``settle``, ``distribute``, ``year_end``) with the page's
parameters, as text, or None (no objection, an unknown kind, unreadable parameters, or
a quarter already settled and closed).

The calendar is per fund region (``funding.regions``): a quarter's notices, its
settlement (the closed period) and the year's close are the fund region's own; the
``region`` parameter (a region code, the top region when absent) says whose.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, select

from onecard.audit import records as audit
from onecard.core.clock import quarter_bounds
from onecard.core.context import Context
from onecard.core.errors import (
    InvalidInput,
    NotFound,
    NoticesNotIssued,
    OutOfCalendar,
    SettlementTooEarly,
    YearEndBeforeSettlement,
)
from onecard.core.runs import RunResult
from onecard.funding.errors import check_quarter
from onecard.funding.models import FundingNotice
from onecard.funding.regions import FundRegion, resolve
from onecard.ledger.service import is_closed
from onecard.org.actors import Actor
from onecard.org.models import Unit

MAX_REASON = 200


def clean_reason(reason: str | None) -> str | None:
    """An override's reason: None when none was given; refused when blank or too long
    (an override without a reason is not an override)."""
    if reason is None:
        return None
    text = " ".join(reason.split())
    if not text:
        raise InvalidInput("强制执行须填写理由")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"强制执行理由不能超过 {MAX_REASON} 个字")
    return text


def settlement_objection(today: date, quarter: str) -> OutOfCalendar | None:
    _, ends = quarter_bounds(quarter)
    if today >= ends:
        return None
    return SettlementTooEarly(quarter=quarter, ends=ends.isoformat(), today=today.isoformat())


def year_end_objection(
    conn: Connection, year: int, fund: FundRegion | None = None
) -> OutOfCalendar | None:
    """Q4 closed for the fund region (the top's when None)."""
    q4 = f"{year}Q4"
    if is_closed(conn, q4, None if fund is None or fund.top else fund.id):
        return None
    return YearEndBeforeSettlement(year=year, quarter=q4)


def distribution_objection(
    conn: Connection,
    quarter: str,
    unit_ids: Sequence[int] | None = None,
    fund: FundRegion | None = None,
) -> OutOfCalendar | None:
    """``unit_ids`` None: the quarter's notices at all (of the fund region's units, when
    ``fund`` is given); else each named unit's notice."""
    q = select(FundingNotice.unit_id).where(FundingNotice.quarter == quarter)
    if unit_ids is None:
        if fund is not None:
            q = q.join(Unit, Unit.id == FundingNotice.unit_id).where(
                Unit.region_id.in_(fund.members)
            )
        if conn.execute(q.limit(1)).first() is not None:
            return None
        return NoticesNotIssued(quarter=quarter, unit_zh="", unit_en="")
    have = {
        int(u) for u in conn.execute(q.where(FundingNotice.unit_id.in_(list(unit_ids)))).scalars()
    }
    missing = [u for u in unit_ids if u not in have]
    if not missing:
        return None
    name = conn.execute(select(Unit.name).where(Unit.id == missing[0])).scalar()
    who = name or str(missing[0])
    return NoticesNotIssued(quarter=quarter, unit_zh=f"（{who}）", unit_en=f" ({who})")


def guard(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    objection: OutOfCalendar | None,
    override: str | None,
    res: RunResult,
) -> None:
    """Refuse, list, or let an audited override through (see the module's contract)."""
    if objection is None:
        return
    if res.dry_run:
        res.problems.append(f"{objection.message()}（正式执行将被拒绝，除非注明理由强制执行）")
        return
    if override is None:
        raise objection
    res.notes.append(f"日历检查未通过，已强制执行：{objection.message()}；理由：{override}")
    audit.record(
        conn,
        ctx,
        actor,
        "calendar_override",
        f"{res.action} {res.scope}",
        {},
        after={
            "run": res.action,
            "scope": res.scope,
            "rule": objection.code,
            "refusal": objection.message(),
            "reason": override,
        },
    )


def run_objection(ctx: Context, kind: str, params: dict[str, str]) -> str | None:
    try:
        with ctx.db.read() as conn:
            fund = resolve(conn, params.get("region") or None)
            if kind == "settle":
                q = check_quarter(params.get("quarter", ""))
                if is_closed(conn, q, None if fund.top else fund.id):
                    return None
                obj = settlement_objection(ctx.clock.today(), q)
            elif kind == "distribute":
                q = check_quarter(params.get("quarter", ""))
                unit = params.get("unit_id", "")
                obj = distribution_objection(conn, q, [int(unit)] if unit else None, fund)
            elif kind == "year_end":
                obj = year_end_objection(conn, int(params.get("year", "0") or 0), fund)
            else:
                return None
    except (InvalidInput, NotFound):
        return None
    return None if obj is None else obj.message()
