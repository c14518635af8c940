"""The daily reconciliation of offline terminals: what each terminal took on a day
against what the server applied, booked and still misses.

Contract: ``reconcile_day(ctx, actor, day)`` reads, for the local (Beijing) ``day``, every
offline terminal that took records that day or has a gap that may hold some, one line per
terminal (``TerminalDay``): the records taken that day by sequence range; how many were
applied, refused (by reason) and sent again (duplicates, ``offline_records.resent``);
the record amounts of the applied ones against what was booked for them (the payment's
amount, what the purses paid, plus the debt the rest became); the debts those records
created and how much of them is recovered so far; and the terminal's gap — the sequence
numbers it has shown it holds (by sending later ones, answered ``deferred``) and never
uploaded. The server cannot see records a terminal has not mentioned at all: a gap is
known from the first later record it sends.

Problems a person must look at (``problems``): a gap whose records are older than the
terminal's hours-offline limit (``stale_gap``: the till should have stopped selling or
uploaded by then), each refused record (``refused``), and an applied record whose booked
amount differs from its own (``amount_mismatch``). Nothing is corrected here. The run is
recorded (audit, kind money run) with its counts, in one transaction that writes nothing
else — as ``pay.ecny_recon``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select

from onecard.audit import service as audit
from onecard.core.clock import from_local
from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.org.models import Terminal
from onecard.pay.models import Payment
from onecard.terminals.limits import OFFLINE_HOURS
from onecard.terminals.models import OfflineDebt, OfflineRecord, OfflineTerminal, OfflineWorkingSet

PROBLEM_ZH = {
    "stale_gap": "缺号超过离线时限",
    "refused": "记录被拒",
    "amount_mismatch": "入账金额不符",
}


@dataclass
class TerminalDay:
    terminal_id: int
    code: str
    first_seq: int | None = None
    last_seq: int | None = None
    records: int = 0
    applied: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # reason → count
    duplicates: int = 0
    record_fen: int = 0  # the applied records' own amounts
    booked_fen: int = 0  # what was booked for them: purses' part + debt
    debts: int = 0
    debt_fen: int = 0
    debt_recovered_fen: int = 0
    gap: tuple[int, int] | None = None  # sequence numbers never uploaded (inclusive)
    gap_taken_before: datetime | None = None  # the missing records were taken before this


@dataclass
class OfflineReconciliation:
    day: date
    as_of: datetime
    terminals: list[TerminalDay] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)


def reconcile_day(ctx: Context, actor: Actor, day: date) -> OfflineReconciliation:
    actor.require_money_runs()
    start = from_local(datetime.combine(day, time.min))
    end = start + timedelta(days=1)
    now = ctx.clock.now()
    res = OfflineReconciliation(day, now)
    with ctx.db.begin() as conn:
        lines: dict[int, TerminalDay] = {}
        codes = dict(
            conn.execute(
                select(Terminal.id, Terminal.code).join(
                    OfflineTerminal, OfflineTerminal.terminal_id == Terminal.id
                )
            ).all()
        )

        def line(tid: int) -> TerminalDay:
            return lines.setdefault(tid, TerminalDay(tid, str(codes.get(tid, tid))))

        rows = conn.execute(
            select(
                OfflineRecord.id,
                OfflineRecord.terminal_id,
                OfflineRecord.seq,
                OfflineRecord.txn_id,
                OfflineRecord.status,
                OfflineRecord.reason,
                OfflineRecord.amount_fen,
                OfflineRecord.resent,
                Payment.amount_fen.label("paid_fen"),
                OfflineDebt.amount_fen.label("debt_fen"),
                OfflineDebt.recovered_fen,
            )
            .outerjoin(Payment, Payment.id == OfflineRecord.payment_id)
            .outerjoin(OfflineDebt, OfflineDebt.record_id == OfflineRecord.id)
            .where(OfflineRecord.taken_at >= start, OfflineRecord.taken_at < end)
            .order_by(OfflineRecord.terminal_id, OfflineRecord.seq)
        ).all()
        for r in rows:
            t = line(int(r.terminal_id))
            seq = int(r.seq)
            t.first_seq = seq if t.first_seq is None else min(t.first_seq, seq)
            t.last_seq = seq if t.last_seq is None else max(t.last_seq, seq)
            t.records += 1
            t.duplicates += int(r.resent)
            if r.status == "refused":
                reason = str(r.reason)
                t.refused[reason] = t.refused.get(reason, 0) + 1
                res.problems.append(_problem("refused", t, seq=seq, txn_id=r.txn_id, reason=reason))
                continue
            t.applied += 1
            amount = int(r.amount_fen)
            booked = int(r.paid_fen or 0) + int(r.debt_fen or 0)
            t.record_fen += amount
            t.booked_fen += booked
            if r.debt_fen:
                t.debts += 1
                t.debt_fen += int(r.debt_fen)
                t.debt_recovered_fen += int(r.recovered_fen)
            if booked != amount:
                res.problems.append(
                    _problem(
                        "amount_mismatch",
                        t,
                        seq=seq,
                        txn_id=r.txn_id,
                        record_fen=amount,
                        booked_fen=booked,
                    )
                )
        for g in _gaps(conn, start, end):
            t = line(int(g.terminal_id))
            t.gap = (int(g.next_seq), int(g.ahead_seq) - 1)
            t.gap_taken_before = g.ahead_taken_at
            hours = _offline_hours(conn, t.terminal_id)
            if now - g.ahead_taken_at > timedelta(hours=hours):
                res.problems.append(
                    _problem(
                        "stale_gap",
                        t,
                        seq=t.gap[0],
                        last_seq=t.gap[1],
                        taken_before=g.ahead_taken_at.isoformat(),
                        hours=hours,
                    )
                )
        res.terminals = sorted(lines.values(), key=lambda t: t.code)
        audit.record(
            conn,
            ctx,
            actor,
            "money_run",
            "offline_reconcile",
            target=day.isoformat(),
            data={
                "terminals": len(res.terminals),
                "records": sum(t.records for t in res.terminals),
                "applied": sum(t.applied for t in res.terminals),
                "problems": len(res.problems),
            },
        )
    return res


def _gaps(conn: Connection, start: datetime, end: datetime) -> Any:
    """Open gaps whose missing records may have been taken on the day: after the last
    record applied before the gap, before the first record sent ahead of it."""
    last_applied = (
        select(func.max(OfflineRecord.taken_at))
        .where(
            OfflineRecord.terminal_id == OfflineTerminal.terminal_id,
            OfflineRecord.seq == OfflineTerminal.next_seq - 1,
        )
        .scalar_subquery()
    )
    return conn.execute(
        select(
            OfflineTerminal.terminal_id,
            OfflineTerminal.next_seq,
            OfflineTerminal.ahead_seq,
            OfflineTerminal.ahead_taken_at,
        ).where(
            OfflineTerminal.ahead_seq.is_not(None),
            OfflineTerminal.ahead_taken_at >= start,
            or_(last_applied.is_(None), last_applied < end),
        )
    ).all()


def _offline_hours(conn: Connection, terminal_id: int) -> int:
    """The hours-offline limit of the terminal's newest working set."""
    limits = conn.execute(
        select(OfflineWorkingSet.limits)
        .where(OfflineWorkingSet.terminal_id == terminal_id)
        .order_by(OfflineWorkingSet.version.desc())
        .limit(1)
    ).scalar()
    if limits is None:
        return OFFLINE_HOURS
    return int(json.loads(limits).get("offline_hours", OFFLINE_HOURS))


def _problem(kind: str, t: TerminalDay, **details: Any) -> dict[str, Any]:
    return {"kind": kind, "kind_zh": PROBLEM_ZH[kind], "terminal": t.code, **details}
