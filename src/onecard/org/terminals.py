"""Terminal (消费机) administration by code, and a canteen's rollout status (R-R1, R-R3).

Contract: thin entry points kept for the pages, API and CLI that name a terminal by its
code; each is one transaction of ``rollout.service``, which holds the state machines
(``rollout.states``), records every move and audits it. Registering a terminal makes it
``installed`` and returns the device key once (only its hash is stored): it pays once
accepted and made live. Revoking takes effect at the terminal's next request. A canteen
goes planned → inspected → live (live only after a passed inspection and with a live
terminal).
"""

from __future__ import annotations

from sqlalchemy import select

from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.org.actors import Actor
from onecard.org.models import Terminal
from onecard.rollout import service
from onecard.rollout.states import CANTEEN_STATES

ROLLOUT = CANTEEN_STATES


def terminal_id_by_code(ctx: Context, code: str) -> int:
    with ctx.db.read() as conn:
        tid = conn.execute(select(Terminal.id).where(Terminal.code == code)).scalar()
    if tid is None:
        raise NotFound(what=f"消费机 {code}")
    return int(tid)


def register_terminal(
    ctx: Context, actor: Actor, canteen_id: int, code: str, name: str = ""
) -> str:
    return service.register_terminal(ctx, actor, canteen_id, code, name)[1]


def revoke_terminal(ctx: Context, actor: Actor, code: str) -> None:
    service.revoke_terminal(ctx, actor, terminal_id_by_code(ctx, code))


def set_rollout_status(ctx: Context, actor: Actor, canteen_id: int, status: str) -> None:
    service.set_canteen_state(ctx, actor, canteen_id, status)
