"""Rollout and acceptance (R-R1, R-R3): the terminal plan, terminal and canteen moves,
acceptance inspections, supervision notices.

Contract:
- Each public function is one transaction and checks its actor: terminal moves and
  inspections the bureau (``bureau_admin``, ``clearing_operator``: ``Actor.is_bureau``);
  a canteen's go-live, its suspension and notices the bureau administrator; a notice's
  acknowledgement only an administrator of the notice's unit.
- Every move goes through ``rollout.states`` (an illegal one raises
  ``IllegalTransition``, nothing written), is written to ``rollout_transitions`` (who,
  when, from, to) and to the audit trail (before and after), in the same
  transaction (terminal moves as kind ``terminal``, the rest ``rollout``). The moved row is locked first (``FOR UPDATE``), so two people moving the
  same terminal cannot both succeed from the same state.
- **The terminal plan** (``planned_terminals``): one terminal per serving window, and at
  least one per ``DINERS_PER_TERMINAL`` diners at the rush (the canteen's reported
  "可同时就餐人数" / seats), and at least one. ``plan_terminals`` tops a canteen's
  terminals (those not revoked) up to that number with ``planned`` ones, coded
  ``<canteen code>-T<nn>``; a planned terminal has no device key (no key can match it)
  until it is installed, which issues the key, shown once.
- A canteen goes live only when it is ``inspected`` (its latest inspection passed) and at
  least one of its terminals is ``live``; otherwise ``GoLiveRefused`` says which.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from onecard.audit import service as audit
from onecard.core.context import Context
from onecard.core.errors import (
    Forbidden,
    GoLiveRefused,
    InvalidInput,
    NotFound,
    StateConflict,
)
from onecard.org.actors import Actor
from onecard.org.builders import hash_device_key
from onecard.org.models import Canteen, Terminal, Unit
from onecard.rollout import states as st
from onecard.rollout.models import NOTICE_KINDS, Inspection, RolloutNotice, RolloutTransition

# A terminal takes one payment every few seconds; the lunch rush is about 45 minutes
# (DOMAIN.md) and each seat turns over about twice in it: 150 diners at once is some
# 300 payments per terminal in the rush, one every 9 seconds — a queue that keeps moving.
DINERS_PER_TERMINAL = 150
# The standard acceptance checklist the inspection page offers (the API takes any items).
CHECKLIST = (
    "消费机安装牢固、通电联网",
    "刷卡与付款码支付成功",
    "冲正与退款可用",
    "价目与就餐时段已设置",
    "食堂信息已公示（地点、电话、开放时间）",
    "工作人员已培训",
)
NOTICE_ZH = {"urge": "督办", "praise": "通报表扬"}
MAX_ITEMS = 30


def planned_terminals(windows: int, diners: int) -> int:
    """How many terminals a canteen needs: one per window, at least one per
    ``DINERS_PER_TERMINAL`` diners at the rush, at least one."""
    return max(1, int(windows), math.ceil(max(0, int(diners)) / DINERS_PER_TERMINAL))


# --- moves ----------------------------------------------------------------------------------
def _record_move(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    subject: str,
    subject_id: int,
    canteen_id: int,
    before: str | None,
    after: str,
    note: str = "",
) -> None:
    conn.execute(
        insert(RolloutTransition).values(
            subject=subject,
            subject_id=subject_id,
            canteen_id=canteen_id,
            from_state=before,
            to_state=after,
            actor=actor.label[:120],
            actor_person_id=actor.person_id,
            at=ctx.clock.now(),
            note=note[:200],
        )
    )


def _terminal(conn: Connection, terminal_id: int) -> Any:
    row = conn.execute(
        select(
            Terminal.id,
            Terminal.code,
            Terminal.status,
            Terminal.canteen_id,
            Canteen.unit_id,
            Canteen.name.label("canteen"),
        )
        .join(Canteen, Canteen.id == Terminal.canteen_id)
        .where(Terminal.id == terminal_id)
        .with_for_update(of=Terminal)
    ).first()
    if row is None:
        raise NotFound(what="消费机")
    return row


def move_terminal(
    ctx: Context, actor: Actor, terminal_id: int, to: str, note: str = ""
) -> str | None:
    """Move a terminal one step; returns the new device key when installing, else None."""
    if not actor.is_bureau:
        raise Forbidden()
    if to not in st.TERMINAL_STATES:
        raise InvalidInput(f"消费机状态只能是 {'/'.join(st.TERMINAL_STATES)}")
    if len(note) > 200:
        raise InvalidInput("备注最多 200 个字符")
    with ctx.db.begin() as conn:
        row = _terminal(conn, terminal_id)
        st.check_terminal_move(str(row.status), to)
        values: dict[str, Any] = {"status": to}
        key = None
        if to == st.INSTALLED:
            key = secrets.token_urlsafe(32)
            values.update(key_hash=hash_device_key(key), installed_at=ctx.clock.now())
        conn.execute(update(Terminal).where(Terminal.id == terminal_id).values(**values))
        _record_move(
            conn, ctx, actor, "terminal", terminal_id, int(row.canteen_id), row.status, to, note
        )
        audit.record(
            conn,
            ctx,
            actor,
            "terminal",
            f"terminal_{to}",
            target=str(row.code),
            unit_id=int(row.unit_id),
            before={"status": row.status},
            after={"status": to},
            data={"canteen": row.canteen, **({"note": note} if note else {})},
        )
        return key


def install_terminal(ctx: Context, actor: Actor, terminal_id: int) -> str:
    key = move_terminal(ctx, actor, terminal_id, st.INSTALLED)
    assert key is not None
    return key


def accept_terminal(ctx: Context, actor: Actor, terminal_id: int, note: str = "") -> None:
    move_terminal(ctx, actor, terminal_id, st.ACCEPTED, note)


def make_terminal_live(ctx: Context, actor: Actor, terminal_id: int) -> None:
    move_terminal(ctx, actor, terminal_id, st.LIVE)


def revoke_terminal(ctx: Context, actor: Actor, terminal_id: int, note: str = "") -> None:
    move_terminal(ctx, actor, terminal_id, st.REVOKED, note)


def register_terminal(
    ctx: Context, actor: Actor, canteen_id: int, code: str, name: str = ""
) -> tuple[int, str]:
    """A terminal installed outside the plan (its own code): ``installed``, key issued."""
    if not actor.is_bureau:
        raise Forbidden()
    if not code or len(code) > 32:
        raise InvalidInput("消费机编号须为 1–32 个字符")
    with ctx.db.begin() as conn:
        canteen = _canteen(conn, canteen_id)
        if conn.execute(select(Terminal.id).where(Terminal.code == code)).first() is not None:
            raise StateConflict(f"消费机编号 {code} 已存在")
        key = secrets.token_urlsafe(32)
        tid = _insert_terminal(conn, ctx, canteen, code, name, st.INSTALLED, hash_device_key(key))
        _record_move(conn, ctx, actor, "terminal", tid, canteen_id, None, st.INSTALLED)
        audit.record(
            conn,
            ctx,
            actor,
            "terminal",
            "terminal_registered",
            target=code,
            unit_id=int(canteen.unit_id),
            after={"canteen": canteen.name, "name": name, "status": st.INSTALLED},
        )
        return tid, key


def _insert_terminal(
    conn: Connection, ctx: Context, canteen: Any, code: str, name: str, status: str, key_hash: str
) -> int:
    return int(
        conn.execute(
            insert(Terminal)
            .values(
                region_id=canteen.region_id,
                canteen_id=canteen.id,
                code=code,
                name=name,
                key_hash=key_hash,
                status=status,
                installed_at=ctx.clock.now() if status == st.INSTALLED else None,
            )
            .returning(Terminal.id)
        ).scalar_one()
    )


def _canteen(conn: Connection, canteen_id: int, lock: bool = False) -> Any:
    q = select(
        Canteen.id,
        Canteen.code,
        Canteen.name,
        Canteen.unit_id,
        Canteen.region_id,
        Canteen.windows,
        Canteen.capacity,
        Canteen.rollout_status,
        Canteen.retired_at,
    ).where(Canteen.id == canteen_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(what="食堂")
    return row


# --- the plan ---------------------------------------------------------------------------------
def plan_terminals(ctx: Context, actor: Actor, canteen_id: int) -> list[str]:
    """Top the canteen's terminals up to its plan with ``planned`` ones; returns their
    codes (none when the plan is met: running it twice adds nothing)."""
    if not actor.is_bureau:
        raise Forbidden()
    with ctx.db.begin() as conn:
        canteen = _canteen(conn, canteen_id, lock=True)
        if canteen.retired_at is not None:
            raise StateConflict("食堂已撤销")
        return _plan(conn, ctx, actor, canteen)


def plan_city(ctx: Context, actor: Actor) -> dict[str, list[str]]:
    """The plan for every canteen not retired, in one transaction: {canteen code: codes}."""
    if not actor.is_bureau:
        raise Forbidden()
    out: dict[str, list[str]] = {}
    with ctx.db.begin() as conn:
        ids = conn.execute(
            select(Canteen.id).where(Canteen.retired_at.is_(None)).order_by(Canteen.code)
        ).scalars()
        for cid in list(ids):
            canteen = _canteen(conn, int(cid), lock=True)
            made = _plan(conn, ctx, actor, canteen)
            if made:
                out[str(canteen.code)] = made
    return out


def _plan(conn: Connection, ctx: Context, actor: Actor, canteen: Any) -> list[str]:
    want = planned_terminals(canteen.windows, canteen.capacity)
    have = int(
        conn.execute(
            select(func.count()).where(
                Terminal.canteen_id == canteen.id, Terminal.status != st.REVOKED
            )
        ).scalar_one()
    )
    taken = set(
        conn.execute(
            select(Terminal.code).where(Terminal.code.like(f"{canteen.code}-T%"))
        ).scalars()
    )
    made: list[str] = []
    n = 0
    while have + len(made) < want:
        n += 1
        code = f"{canteen.code}-T{n:02d}"
        if code in taken:
            continue
        # No key yet: "" never equals a SHA-256 hex digest, so nothing can sign as it.
        tid = _insert_terminal(conn, ctx, canteen, code, f"{canteen.name} {n} 号机", st.PLANNED, "")
        _record_move(conn, ctx, actor, "terminal", tid, int(canteen.id), None, st.PLANNED)
        made.append(code)
    if made:
        audit.record(
            conn,
            ctx,
            actor,
            "rollout",
            "terminals_planned",
            target=str(canteen.code),
            unit_id=int(canteen.unit_id),
            before={"terminals": have},
            after={"terminals": have + len(made)},
            data={"planned": want, "codes": made},
        )
    return made


# --- inspections and the canteen's go-live ------------------------------------------------------
def record_inspection(
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    inspected_on: date,
    items: Sequence[tuple[str, bool]],
    note: str = "",
) -> tuple[int, bool]:
    """Record an acceptance visit; returns (inspection id, passed). It passes when every
    item passed. A passed one makes a planned canteen ``inspected``; a failed one sends an
    inspected canteen back to ``planned`` (a live canteen keeps its state)."""
    if not actor.is_bureau:
        raise Forbidden()
    cleaned = [(str(i).strip(), bool(p)) for i, p in items]
    if not cleaned or any(not i or len(i) > 100 for i, _ in cleaned):
        raise InvalidInput("检查项目不能为空，每项最多 100 个字符")
    if len(cleaned) > MAX_ITEMS:
        raise InvalidInput(f"检查项目最多 {MAX_ITEMS} 项")
    if len(note) > 1000:
        raise InvalidInput("备注最多 1000 个字符")
    if inspected_on > ctx.clock.today():
        raise InvalidInput("检查日期不能晚于今天")
    passed = all(p for _, p in cleaned)
    with ctx.db.begin() as conn:
        canteen = _canteen(conn, canteen_id, lock=True)
        iid = int(
            conn.execute(
                insert(Inspection)
                .values(
                    canteen_id=canteen_id,
                    inspected_on=inspected_on,
                    items=json.dumps(
                        [{"item": i, "passed": p} for i, p in cleaned], ensure_ascii=False
                    ),
                    passed=passed,
                    note=note,
                    inspector=actor.label[:120],
                    inspector_person_id=actor.person_id,
                    recorded_at=ctx.clock.now(),
                )
                .returning(Inspection.id)
            ).scalar_one()
        )
        before = str(canteen.rollout_status)
        after = before
        if passed and before == st.PLANNED:
            after = st.INSPECTED
        elif not passed and before == st.INSPECTED:
            after = st.PLANNED
        if after != before:
            _set_canteen(conn, ctx, actor, canteen, after, f"验收检查 #{iid}")
        audit.record(
            conn,
            ctx,
            actor,
            "rollout",
            "inspection_recorded",
            target=str(canteen.code),
            unit_id=int(canteen.unit_id),
            before={"rollout_status": before},
            after={"rollout_status": after, "passed": passed},
            data={
                "inspection": iid,
                "on": inspected_on,
                "failed": [i for i, p in cleaned if not p],
                **({"note": note} if note else {}),
            },
        )
        return iid, passed


def _set_canteen(
    conn: Connection, ctx: Context, actor: Actor, canteen: Any, to: str, note: str = ""
) -> None:
    st.check_canteen_move(str(canteen.rollout_status), to)
    conn.execute(update(Canteen).where(Canteen.id == canteen.id).values(rollout_status=to))
    _record_move(
        conn,
        ctx,
        actor,
        "canteen",
        int(canteen.id),
        int(canteen.id),
        canteen.rollout_status,
        to,
        note,
    )


def go_live_blockers(conn: Connection, canteen: Any) -> list[str]:
    """Why the canteen cannot go live now (empty: it can)."""
    out = []
    if canteen.rollout_status == st.PLANNED:
        out.append("尚无通过的验收检查")
    live = conn.execute(
        select(Terminal.id).where(Terminal.canteen_id == canteen.id, Terminal.status == st.LIVE)
    ).first()
    if live is None:
        out.append("没有已启用的消费机")
    return out


def set_canteen_state(ctx: Context, actor: Actor, canteen_id: int, to: str) -> None:
    """Make a canteen live (the gate), or take it back to planned. ``inspected`` comes only
    from a passed inspection. The state it is already in: nothing to do."""
    actor.require("bureau_admin")
    if to not in st.CANTEEN_STATES:
        raise InvalidInput(f"上线状态只能是 {'/'.join(st.CANTEEN_STATES)}")
    with ctx.db.begin() as conn:
        canteen = _canteen(conn, canteen_id, lock=True)
        before = str(canteen.rollout_status)
        if before == to:
            return
        if to == st.INSPECTED:
            raise GoLiveRefused(reason="「已验收检查」只能由通过的验收检查产生")
        if to == st.LIVE:
            if canteen.retired_at is not None:
                raise GoLiveRefused(reason="食堂已撤销")
            blockers = go_live_blockers(conn, canteen)
            if blockers:
                raise GoLiveRefused(reason="；".join(blockers))
        _set_canteen(conn, ctx, actor, canteen, to)
        audit.record(
            conn,
            ctx,
            actor,
            "rollout",
            "canteen_live" if to == st.LIVE else "canteen_suspended",
            target=str(canteen.code),
            unit_id=int(canteen.unit_id),
            before={"rollout_status": before},
            after={"rollout_status": to},
            data={"canteen": canteen.name},
        )


def make_canteen_live(ctx: Context, actor: Actor, canteen_id: int) -> None:
    set_canteen_state(ctx, actor, canteen_id, st.LIVE)


# --- supervision notices ------------------------------------------------------------------------
def issue_notice(ctx: Context, actor: Actor, unit_id: int, kind: str, text: str) -> int:
    """The bureau urges (督办) or praises (通报表扬) a unit; its admin sees it."""
    actor.require("bureau_admin")
    if kind not in NOTICE_KINDS:
        raise InvalidInput("通知类型只能是 urge（督办）或 praise（通报表扬）")
    text = text.strip()
    if not text or len(text) > 1000:
        raise InvalidInput("通知内容不能为空，最多 1000 个字符")
    with ctx.db.begin() as conn:
        unit = conn.execute(
            select(Unit.id, Unit.code, Unit.retired_at).where(Unit.id == unit_id)
        ).first()
        if unit is None:
            raise NotFound(what="单位")
        if unit.retired_at is not None:
            raise StateConflict("单位已撤销")
        nid = int(
            conn.execute(
                insert(RolloutNotice)
                .values(
                    unit_id=unit_id,
                    kind=kind,
                    text=text,
                    issued_by=actor.label[:120],
                    issued_at=ctx.clock.now(),
                )
                .returning(RolloutNotice.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            ctx,
            actor,
            "rollout",
            f"notice_{kind}",
            target=str(unit.code),
            unit_id=unit_id,
            after={"notice": nid, "kind": kind, "text": text},
        )
        return nid


def acknowledge_notice(ctx: Context, actor: Actor, notice_id: int, unit_id: int) -> None:
    """The unit's administrator acknowledges a notice to their unit, once."""
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(RolloutNotice.id, RolloutNotice.unit_id, RolloutNotice.acknowledged_at)
            .where(RolloutNotice.id == notice_id)
            .with_for_update()
        ).first()
        if row is None or int(row.unit_id) != unit_id:
            raise NotFound(what="通知")
        if not any(r == "unit_admin" and u == unit_id for r, u, _ in actor.grants):
            raise Forbidden()
        if row.acknowledged_at is not None:
            raise StateConflict("该通知已确认")
        now = ctx.clock.now()
        conn.execute(
            update(RolloutNotice)
            .where(RolloutNotice.id == notice_id)
            .values(acknowledged_by=actor.label[:120], acknowledged_at=now)
        )
        audit.record(
            conn,
            ctx,
            actor,
            "rollout",
            "notice_acknowledged",
            target=f"notice:{notice_id}",
            unit_id=unit_id,
            before={"acknowledged": False},
            after={"acknowledged": True},
        )
