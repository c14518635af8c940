"""Terminal (消费机) administration and canteen rollout status (R-R1, R-R3).

Contract: each function is one transaction. Registering returns the device key once
(only its hash is stored); revoking takes effect at the terminal's next request. A
canteen's rollout goes planned → installed → live; it is "installed" once it has an
active terminal and "live" when the bureau says so. Every change is an audit event
(kind ``terminal``).
"""

from __future__ import annotations

from sqlalchemy import select, update

from onecard.audit import service as audit
from onecard.core.context import Context
from onecard.core.errors import InvalidInput, NotFound, StateConflict
from onecard.org import builders
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Terminal

ROLLOUT = ("planned", "installed", "live")


def register_terminal(
    ctx: Context, actor: Actor, canteen_id: int, code: str, name: str = ""
) -> str:
    actor.require_bureau()
    if not code or len(code) > 32:
        raise InvalidInput("消费机编号须为 1–32 个字符")
    with ctx.db.begin() as conn:
        canteen = conn.execute(
            select(Canteen.region_id, Canteen.rollout_status, Canteen.unit_id, Canteen.name).where(
                Canteen.id == canteen_id
            )
        ).first()
        if canteen is None:
            raise NotFound(what="食堂")
        if conn.execute(select(Terminal.id).where(Terminal.code == code)).first() is not None:
            raise StateConflict(f"消费机编号 {code} 已存在")
        _tid, key = builders.register_terminal(
            conn, canteen.region_id, canteen_id, code, name=name, installed_at=ctx.clock.now()
        )
        if canteen.rollout_status == "planned":
            conn.execute(
                update(Canteen).where(Canteen.id == canteen_id).values(rollout_status="installed")
            )
        audit.record(
            conn,
            ctx,
            actor,
            "terminal",
            "terminal_registered",
            target=code,
            unit_id=int(canteen.unit_id),
            after={"canteen": canteen.name, "name": name, "status": "active"},
        )
        return key


def revoke_terminal(ctx: Context, actor: Actor, code: str) -> None:
    actor.require_bureau()
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(Terminal.status, Canteen.unit_id, Canteen.name)
            .join(Canteen, Canteen.id == Terminal.canteen_id)
            .where(Terminal.code == code)
            .with_for_update(of=Terminal)
        ).first()
        if row is None:
            raise NotFound(what=f"消费机 {code}")
        conn.execute(update(Terminal).where(Terminal.code == code).values(status="revoked"))
        if row.status != "revoked":
            audit.record(
                conn,
                ctx,
                actor,
                "terminal",
                "terminal_revoked",
                target=code,
                unit_id=int(row.unit_id),
                before={"status": row.status},
                after={"status": "revoked"},
                data={"canteen": row.name},
            )


def set_rollout_status(ctx: Context, actor: Actor, canteen_id: int, status: str) -> None:
    actor.require("bureau_admin")
    if status not in ROLLOUT:
        raise InvalidInput(f"上线状态只能是 {'/'.join(ROLLOUT)}")
    with ctx.db.begin() as conn:
        if status == "live":
            active = conn.execute(
                select(Terminal.id).where(
                    Terminal.canteen_id == canteen_id, Terminal.status == "active"
                )
            ).first()
            if active is None:
                raise StateConflict("尚未安装可用的消费机，不能上线")
        row = conn.execute(
            select(Canteen.rollout_status, Canteen.unit_id, Canteen.name)
            .where(Canteen.id == canteen_id)
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(what="食堂")
        conn.execute(update(Canteen).where(Canteen.id == canteen_id).values(rollout_status=status))
        if row.rollout_status != status:
            audit.record(
                conn,
                ctx,
                actor,
                "terminal",
                "rollout_status",
                target=row.name,
                unit_id=int(row.unit_id),
                before={"rollout_status": row.rollout_status},
                after={"rollout_status": status},
            )
