"""Server-side sessions of signed-in people: open, find, keep, end.

Contract:
- ``open_session(conn, ctx, person_id, …)`` makes a session inside the caller's
  transaction (signing in) and returns its random token, which only the cookie holds;
  the table keeps the token's SHA-256.
- ``find(ctx, token)`` returns the live session for a cookie's token, or None. A session
  is live until it is ended, and while it is within both limits: idle (no request for
  ``session_idle_minutes``) and absolute (``session_max_hours`` after signing in). A
  session still signing in (password given, second factor or forced change pending)
  lives ``PENDING_MINUTES`` at most. ``last_seen_at`` is written at most once a minute.
- ``end_person_sessions(conn, person_id, reason, now)`` ends every live session of a
  person inside the caller's transaction (password change, lock, a lost phone);
  ``end_all_sessions(ctx, actor, person_id)`` is the same as one transaction for a
  person acting on themself or an admin of their unit, with an audit record. A change
  of role ends a session at its next request: it no longer matches the session's
  ``grants_fingerprint``.
- ``end_one(ctx, session_id, reason)`` ends one session in a transaction of its own (the
  signed-in check ending a stale session; the API's activation).
- ``save_data`` stores a live session's server-side state (JSON); an ended session's
  state is never written again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from onecard.core.context import Context
from onecard.core.errors import Forbidden, NotFound
from onecard.org.actors import Actor, Grant
from onecard.org.models import Person
from onecard.org.session_models import WebSession

PENDING_MINUTES = 10
TOUCH_SECONDS = 60
KEEP_ENDED_DAYS = 30
TOKEN_BYTES = 32


@dataclass(frozen=True)
class Opened:
    id: int
    token: str


@dataclass(frozen=True)
class Live:
    id: int
    person_id: int
    data: dict[str, Any]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def grants_fingerprint(grants: Iterable[Grant]) -> str:
    """A short digest of a person's role grants. A session keeps the one it signed in
    with; when the grants change (a role given or taken, by any path), the digest no
    longer matches and the session is ended at its next request (``web.deps``)."""
    text = ";".join(sorted(f"{r}:{u or ''}:{c or ''}" for r, u, c in grants))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _limits(ctx: Context) -> tuple[timedelta, timedelta]:
    s = ctx.settings
    return timedelta(minutes=s.session_idle_minutes), timedelta(hours=s.session_max_hours)


def open_session(
    conn: Connection,
    ctx: Context,
    person_id: int,
    *,
    address: str,
    user_agent: str,
    data: dict[str, Any] | None = None,
) -> Opened:
    now = ctx.clock.now()
    _, longest = _limits(ctx)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    sid = conn.execute(
        insert(WebSession)
        .values(
            token_hash=token_hash(token),
            person_id=person_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + longest,
            address=address[:64],
            user_agent=user_agent[:200],
            data=json.dumps(data or {}, ensure_ascii=False),
        )
        .returning(WebSession.id)
    ).scalar_one()
    # Sessions that ended (or lapsed) a month ago are of no more use to anyone.
    old = now - timedelta(days=KEEP_ENDED_DAYS)
    conn.execute(
        delete(WebSession).where(
            WebSession.person_id == person_id,
            or_(WebSession.ended_at < old, WebSession.expires_at < old),
        )
    )
    return Opened(int(sid), token)


def _data(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _is_live(ctx: Context, row: Any, data: dict[str, Any], now: datetime) -> bool:
    idle, _ = _limits(ctx)
    if row.ended_at is not None or now >= row.expires_at:
        return False
    if not data.get("verified"):
        return bool(now < row.created_at + timedelta(minutes=PENDING_MINUTES))
    return bool(now < row.last_seen_at + idle)


def find(ctx: Context, token: str) -> Live | None:
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                WebSession.id,
                WebSession.person_id,
                WebSession.created_at,
                WebSession.last_seen_at,
                WebSession.expires_at,
                WebSession.ended_at,
                WebSession.data,
            ).where(WebSession.token_hash == token_hash(token))
        ).first()
    if row is None:
        return None
    now = ctx.clock.now()
    data = _data(row.data)
    if not _is_live(ctx, row, data, now):
        return None
    if now - row.last_seen_at >= timedelta(seconds=TOUCH_SECONDS):
        with ctx.db.begin() as conn:
            conn.execute(
                update(WebSession)
                .where(WebSession.id == row.id, WebSession.ended_at.is_(None))
                .values(last_seen_at=now)
            )
    return Live(int(row.id), int(row.person_id), data)


def save_data(ctx: Context, session_id: int, data: dict[str, Any]) -> None:
    with ctx.db.begin() as conn:
        conn.execute(
            update(WebSession)
            .where(WebSession.id == session_id, WebSession.ended_at.is_(None))
            .values(data=json.dumps(data, ensure_ascii=False))
        )


def end_session(conn: Connection, session_id: int, reason: str, now: datetime) -> None:
    conn.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason[:20])
    )


def end_one(ctx: Context, session_id: int, reason: str) -> None:
    """``end_session`` in a transaction of its own (a page or the API ends one session)."""
    with ctx.db.begin() as conn:
        end_session(conn, session_id, reason, ctx.clock.now())


def end_person_sessions(conn: Connection, person_id: int, reason: str, now: datetime) -> int:
    """End every session of ``person_id`` (in the caller's transaction); how many were
    still open."""
    res = conn.execute(
        update(WebSession)
        .where(
            WebSession.person_id == person_id,
            WebSession.ended_at.is_(None),
            WebSession.expires_at > now,
        )
        .values(ended_at=now, end_reason=reason[:20])
    )
    return int(res.rowcount or 0)


def end_all_sessions(
    ctx: Context, actor: Actor, person_id: int, reason: str = "signed_out_everywhere"
) -> int:
    """ "Sign out everywhere" for a person: by themself, or by an admin of their unit (or
    the bureau). One transaction with its audit record; returns how many sessions ended."""
    from onecard.audit import records as audit

    with ctx.db.begin() as conn:
        person = conn.execute(
            select(Person.id, Person.unit_id, Person.staff_no).where(Person.id == person_id)
        ).first()
        if person is None:
            raise NotFound(what="人员")
        if actor.person_id != person_id and not actor.manages_unit(int(person.unit_id)):
            raise Forbidden()
        ended = end_person_sessions(conn, person_id, reason, ctx.clock.now())
        audit.record(
            conn, ctx, actor, "sessions_ended", f"工号 {person.staff_no}", {"sessions": ended}
        )
    return ended


def live_sessions(ctx: Context, person_id: int) -> list[dict[str, Any]]:
    """The person's signed-in sessions, newest first (for "where am I signed in")."""
    now = ctx.clock.now()
    idle, _ = _limits(ctx)
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                WebSession.id,
                WebSession.created_at,
                WebSession.last_seen_at,
                WebSession.expires_at,
                WebSession.ended_at,
                WebSession.address,
                WebSession.user_agent,
                WebSession.data,
            )
            .where(
                and_(
                    WebSession.person_id == person_id,
                    WebSession.ended_at.is_(None),
                    WebSession.expires_at > now,
                    WebSession.last_seen_at > now - idle,
                )
            )
            .order_by(WebSession.id.desc())
        ).all()
    return [
        {
            "id": int(r.id),
            "created_at": r.created_at,
            "last_seen_at": r.last_seen_at,
            "address": r.address,
            "user_agent": r.user_agent,
        }
        for r in rows
        if _is_live(ctx, r, _data(r.data), now) and _data(r.data).get("verified")
    ]
