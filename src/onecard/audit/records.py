"""Audit records in the shape money runs, sign-ins and administration write them.

Contract: ``record(conn, ctx, actor, action, scope, totals)`` appends one event to the
audit chain inside the run's own transaction, so the record exists exactly when the run
committed; its kind comes from the action (``audit.service.kind_for_action``). Dry runs
write nothing (not even an audit record). Totals are integers (fen, counts) as JSON.
A sign-in (kind ``sign_in``/``account``) is recorded as concerning the actor's own person
and unit; anything else names its person or unit with the keyword arguments.
``records(ctx, action)`` lists events oldest first in the shape this module always
returned (``id`` is the chain position).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from onecard.audit import service
from onecard.audit.models import AuditEvent
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.org.actors import Actor


def _event(
    actor: Actor,
    action: str,
    scope: str,
    totals: dict[str, Any],
    unit_id: int | None = None,
    person_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> service.Event:
    kind = service.kind_for_action(action)
    if kind in ("sign_in", "account"):
        person_id = person_id if person_id is not None else actor.person_id
        unit_id = unit_id if unit_id is not None else actor.unit_id
    return service.Event(kind, action, scope, unit_id, person_id, before, after, totals)


def record(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    action: str,
    scope: str,
    totals: dict[str, Any],
    *,
    unit_id: int | None = None,
    person_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> int:
    event = _event(actor, action, scope, totals, unit_id, person_id, before, after)
    return service.append(conn, ctx, actor, [event])[0]


def record_many(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    rows: list[tuple[str, str, dict[str, Any]]],
    unit_ids: list[int | None] | None = None,
) -> None:
    """Several records ``(action, scope, totals)`` in one append (a run over many units
    writes one record per unit; ``unit_ids`` names each record's unit)."""
    units = unit_ids or [None] * len(rows)
    service.append(
        conn,
        ctx,
        actor,
        [_event(actor, a, s, t, u) for (a, s, t), u in zip(rows, units, strict=True)],
    )


def records(ctx: Context, action: str | None = None) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        q = select(AuditEvent.__table__).order_by(AuditEvent.seq)
        if action:
            q = q.where(AuditEvent.action == action)
        return [
            {
                "id": r.seq,
                "at": r.at.isoformat(),
                "at_local": to_local(r.at).isoformat(timespec="seconds"),
                "actor": r.actor,
                "origin": r.origin,
                "kind": r.kind,
                "action": r.action,
                "scope": r.target,
                "totals": json.loads(r.data) if r.data else {},
                "before": json.loads(r.before) if r.before else None,
                "after": json.loads(r.after) if r.after else None,
            }
            for r in conn.execute(q)
        ]
