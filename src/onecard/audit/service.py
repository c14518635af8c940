"""Recording changes in the audit trail: who, when, from where, what, before and after.

Contract:
- ``record(conn, ctx, actor, kind, action, …)`` appends one event, ``append(conn, ctx,
  actor, events)`` several, inside the caller's transaction: the record exists exactly
  when the change committed. Call it as the transaction's last write (after every other
  row lock it takes): appending locks the chain head until commit, and a lock taken
  after it could wait on a transaction that waits for the head.
- Appends are serialised on the one-row chain head (``SELECT … FOR UPDATE`` on
  PostgreSQL; SQLite writers are serialised by ``BEGIN IMMEDIATE`` anyway), so ``seq``
  is gapless and each event's ``prev_hash`` is the hash of the event committed just
  before it, whatever the number of server processes. Payments never record here (the
  ledger and the decision records are theirs): the head is off the payment path.
- ``event_hash`` is SHA-256 over the previous hash and every field; it must never change
  (``audit.verify`` recomputes it for every stored event).
- "From where" is ``current_origin()``: the web app sets it per request to the client's
  address (``web.app.AuditOrigin``), the CLI to ``cli:<user>@<host>``; services never
  pass it.
- ``before``/``after``/``data`` are any JSON-able values, stored as canonical JSON (sorted
  keys, no spaces; dates as ISO text). Never put a secret in them (a payment-code secret,
  a password hash, a device key): the trail is read by auditors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onecard.audit.models import AuditChain, AuditEvent
from onecard.core.context import Context
from onecard.org.actors import Actor

GENESIS = "0" * 64

# Kinds of change, with the label the audit page shows (filterable).
KINDS: dict[str, str] = {
    "card": "卡务",
    "paycode": "付款码",
    "rules": "食堂规则与餐价",
    "catalogue": "菜品、商品与库存",
    "terminal": "消费机",
    "rollout": "上线与验收",
    "face": "人脸信息",
    "partner": "合作方接口",
    "refund": "退款与冲正",
    "roster": "花名册",
    "unit_info": "单位信息",
    "person": "人员",
    "quality": "考核",
    "money_run": "资金运行",
    "sign_in": "登录",
    "account": "账户安全",
    "community": "社区食堂",
    "menu": "菜单与预订",
    "other": "其他",
}

# What the funding wrapper's actions are (``audit.records.record`` names no kind).
_ACTION_KINDS: dict[str, str] = {
    "leave": "person",
    "quality_rule": "quality",
    "quality_score": "quality",
    "import_roster": "roster",
    "import_unit_info": "unit_info",
    **{
        a: "money_run"
        for a in (
            "issue_notices",
            "assign_receipt",
            "import_receipts",
            "transfer_to_income",
            "distribute",
            "settle",
            "settlement_retry",
            "leaver_refund",
            "return_to_units",
            "year_end",
            "reconcile",
            "calendar_override",
        )
    },
}
_SIGN_IN_PREFIXES = ("sign_in", "signin", "sign_out", "login", "logout", "auth")
_ACCOUNT_PREFIXES = ("password", "totp", "second_factor", "session", "lock", "unlock", "enrol")


def kind_for_action(action: str) -> str:
    """The kind of an action recorded without one (the funding wrapper's callers: money
    runs, and sign-ins from ``web.accounts``)."""
    if action in _ACTION_KINDS:
        return _ACTION_KINDS[action]
    if action.startswith(_SIGN_IN_PREFIXES):
        return "sign_in"
    if action.startswith(_ACCOUNT_PREFIXES):
        return "account"
    return "other"


# --- where a change comes from ----------------------------------------------------------
_origin: ContextVar[str] = ContextVar("onecard_audit_origin", default="")


def current_origin() -> str:
    return _origin.get()


@contextmanager
def origin(value: str) -> Iterator[None]:
    """Record ``value`` as the origin of every change made inside the block."""
    token = _origin.set(value[:100])
    try:
        yield
    finally:
        _origin.reset(token)


def set_origin(value: str) -> None:
    """For a whole process (the CLI): every change it records comes from ``value``."""
    _origin.set(value[:100])


# --- the chain --------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    kind: str
    action: str
    target: str = ""
    unit_id: int | None = None
    person_id: int | None = None
    before: Any = None
    after: Any = None
    data: Any = None


def canonical(value: Any) -> str | None:
    """Canonical JSON for a before/after/data value (None stays NULL)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(row: dict[str, Any]) -> str:
    """SHA-256 of the previous hash and every field of an event row, in a fixed order."""
    at: datetime = row["at"]
    fields = [
        row["prev_hash"],
        row["seq"],
        at.isoformat(timespec="microseconds"),
        row["actor"],
        row["actor_person_id"],
        row["origin"],
        row["kind"],
        row["action"],
        row["unit_id"],
        row["person_id"],
        row["target"],
        row["before"],
        row["after"],
        row["data"],
    ]
    body = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def chain_rows(seq: int, prev_hash: str, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (event fields without seq and hashes) numbered and chained after
    (``seq``, ``prev_hash``). Used by ``append`` and by migration 0005."""
    out = []
    for r in rows:
        seq += 1
        row = {**r, "seq": seq, "prev_hash": prev_hash}
        row["hash"] = prev_hash = event_hash(row)
        out.append(row)
    return out


def _lock_head(conn: Connection) -> tuple[int, str]:
    q = select(AuditChain.seq, AuditChain.hash).where(AuditChain.id == 1).with_for_update()
    head = conn.execute(q).first()
    if head is None:
        # The first append ever (or on an emptied test database): create the head. Two
        # first appenders race on the primary key; the loser finds the winner's row.
        ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(AuditChain)
        conn.execute(ins.values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())
        head = conn.execute(q).one()
    return int(head.seq), str(head.hash)


def append(conn: Connection, ctx: Context, actor: Actor, events: Sequence[Event]) -> list[int]:
    """Append ``events`` (in order) to the chain; returns their ``seq`` numbers."""
    if not events:
        return []
    seq, prev = _lock_head(conn)
    at = ctx.clock.now()
    where = current_origin()
    rows = chain_rows(
        seq,
        prev,
        [
            {
                "at": at,
                "actor": actor.label[:100],
                "actor_person_id": actor.person_id,
                "origin": where,
                "kind": e.kind if e.kind in KINDS else "other",
                "action": e.action[:40],
                "unit_id": e.unit_id,
                "person_id": e.person_id,
                "target": str(e.target)[:200],
                "before": canonical(e.before),
                "after": canonical(e.after),
                "data": canonical(e.data),
            }
            for e in events
        ],
    )
    conn.execute(insert(AuditEvent), rows)
    last = rows[-1]
    conn.execute(
        update(AuditChain).where(AuditChain.id == 1).values(seq=last["seq"], hash=last["hash"])
    )
    return [int(r["seq"]) for r in rows]


def record(
    conn: Connection,
    ctx: Context,
    actor: Actor,
    kind: str,
    action: str,
    *,
    target: str = "",
    unit_id: int | None = None,
    person_id: int | None = None,
    before: Any = None,
    after: Any = None,
    data: Any = None,
) -> int:
    """Append one event; returns its ``seq``."""
    event = Event(kind, action, target, unit_id, person_id, before, after, data)
    return append(conn, ctx, actor, [event])[0]


def changed_fields(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ, as (before, after) — what an event should show."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
