"""Editing a payee, and the settlement payouts a corrected payee lets go out again.

Contract: ``update_unit`` / ``update_canteen`` are ``org.admin``'s edits (one transaction,
audited there) followed — when the edit corrected a payee's bank account
(``Change.payees``) — by re-sending every settlement payout the bank returned for those
canteens, each in its own transaction (``payouts.retry_settlement_payout``); the results
are in ``Change.retried``. Only the bureau (bureau admin or clearing operator) re-sends:
a unit admin's edit re-sends nothing. ``retry_failed_payouts`` does the same on request
for one canteen. One payout that cannot be sent (no account now, say) is reported in its
result and the others still go. This lives in funding, not org: org's edits know nothing
of money runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from onecard.core.context import Context
from onecard.core.errors import NotFound, OneCardError
from onecard.core.runs import RunResult
from onecard.funding.models import Settlement
from onecard.funding.payouts import retry_settlement_payout
from onecard.org import admin
from onecard.org.actors import Actor
from onecard.org.models import Canteen


def update_unit(ctx: Context, actor: Actor, unit_id: int, raw: Mapping[str, Any]) -> admin.Change:
    """Edit a unit; a corrected account re-sends its self-run canteens' failed payouts."""
    change = admin.update_unit(ctx, actor, unit_id, raw)
    change.retried = _retry_all(ctx, actor, change.payees)
    return change


def update_canteen(
    ctx: Context, actor: Actor, canteen_id: int, raw: Mapping[str, Any]
) -> admin.Change:
    """Edit a canteen; a corrected payee re-sends the payouts that failed for it."""
    change = admin.update_canteen(ctx, actor, canteen_id, raw)
    change.retried = _retry_all(ctx, actor, change.payees)
    return change


def failed_settlements(conn: Connection, canteen_ids: list[int]) -> list[int]:
    if not canteen_ids:
        return []
    return list(
        conn.execute(
            select(Settlement.id)
            .where(Settlement.canteen_id.in_(canteen_ids), Settlement.status == "payout_failed")
            .order_by(Settlement.quarter, Settlement.id)
        ).scalars()
    )


def retry_failed_payouts(ctx: Context, actor: Actor, canteen_id: int) -> list[RunResult]:
    """Send again every settlement payout of the canteen that the bank returned."""
    actor.require_money_runs()
    with ctx.db.read() as conn:
        if conn.execute(select(Canteen.id).where(Canteen.id == canteen_id)).first() is None:
            raise NotFound(what="食堂")
    return _retry_all(ctx, actor, [canteen_id])


def _retry_all(ctx: Context, actor: Actor, canteen_ids: list[int]) -> list[RunResult]:
    """Each failed payout again, in its own transaction."""
    if not canteen_ids or not actor.is_bureau:
        return []
    with ctx.db.read() as conn:
        todo = failed_settlements(conn, canteen_ids)
    out: list[RunResult] = []
    for sid in todo:
        try:
            out.append(retry_settlement_payout(ctx, actor, sid))
        except OneCardError as exc:
            res = RunResult("settlement_retry", f"结算单 {sid}", False)
            res.problems.append(exc.message())
            out.append(res)
    return out
