"""The audit trail of money runs: who, when, what, with which totals.

Contract: ``record(conn, ctx, actor, action, scope, totals)`` writes one row inside the
run's own transaction, so the record exists exactly when the run committed. Dry runs
write nothing (not even an audit row). Totals are integers (fen, counts) as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert, select

from onecard.core.context import Context
from onecard.funding.models import AuditRecord
from onecard.org.actors import Actor


def record(
    conn: Connection, ctx: Context, actor: Actor, action: str, scope: str, totals: dict[str, Any]
) -> int:
    return int(
        conn.execute(
            insert(AuditRecord)
            .values(
                at=ctx.clock.now(),
                actor=actor.label,
                action=action,
                scope=scope,
                totals=json.dumps(totals, ensure_ascii=False, sort_keys=True),
            )
            .returning(AuditRecord.id)
        ).scalar_one()
    )


def record_many(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    rows: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """Several records ``(action, scope, totals)`` with one statement (a run over many
    units writes one record per unit)."""
    if not rows:
        return
    at = ctx.clock.now()
    conn.execute(
        insert(AuditRecord),
        [
            {
                "at": at,
                "actor": actor.label,
                "action": action,
                "scope": scope,
                "totals": json.dumps(totals, ensure_ascii=False, sort_keys=True),
            }
            for action, scope, totals in rows
        ],
    )


def records(ctx: Context, action: str | None = None) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        q = select(AuditRecord.__table__).order_by(AuditRecord.id)
        if action:
            q = q.where(AuditRecord.action == action)
        return [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "scope": r.scope,
                "totals": json.loads(r.totals),
            }
            for r in conn.execute(q)
        ]
