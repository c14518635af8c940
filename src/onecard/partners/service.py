"""Partners' writes: the bureau creates, rotates and revokes; every signed request is
authenticated here (its nonce remembered).

Contract:
- ``create(ctx, actor, client_id, name, scopes)`` — bureau admin — a partner and its
  first credential; returns the secret, shown this once (only its sealed form is kept).
- ``rotate(ctx, actor, client_id, grace_hours=GRACE_HOURS)`` — a new credential; the
  ones before it keep signing until now + grace, then are refused. Returns the new secret.
- ``revoke(ctx, actor, client_id)`` — every credential refused from now on.
  Each is one transaction with its audit record (kind ``partner``); the secret is never
  in the audit record.
- ``authenticate(ctx, method, path, query, headers_authorization, body)`` — one
  transaction — the ``Caller`` (partner id, client id, scopes) of a request whose
  signature matches a credential still valid, whose timestamp is within ``WINDOW_S`` of
  the server's clock and whose nonce this partner has not used in the window; else
  ``PartnerUnauthorized`` with the reason, and nothing written. The nonce is written only
  for a request that passed; nonces older than twice the window are purged as it goes.
- ``Caller.require(scope)`` raises ``PartnerOutOfScope`` unless the agreement allows it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from onecard.audit import service as audit
from onecard.core.context import Context
from onecard.core.errors import (
    DuplicateCode,
    InvalidInput,
    NotFound,
    PartnerOutOfScope,
    PartnerUnauthorized,
    StateConflict,
)
from onecard.org.actors import Actor
from onecard.partners import signing
from onecard.partners.models import Partner, PartnerCredential, PartnerNonce


@dataclass(frozen=True)
class Caller:
    partner_id: int
    client_id: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PartnerOutOfScope(scope=scope)


def _scopes(scopes: list[str]) -> str:
    unknown = sorted(set(scopes) - set(signing.SCOPES))
    if unknown:
        raise InvalidInput(
            f"未知的授权范围：{', '.join(unknown)}（可选：{', '.join(signing.SCOPES)}）"
        )
    return " ".join(sorted(set(scopes)))


def _partner(conn: Connection, client_id: str, lock: bool = False) -> Row[Any]:
    q = select(Partner).where(Partner.client_id == client_id)
    if lock:
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(what=f"合作方 {client_id}")
    return row


def _new_credential(conn: Connection, ctx: Context, partner_id: int, client_id: str) -> str:
    last = conn.execute(
        select(func.max(PartnerCredential.number)).where(PartnerCredential.partner_id == partner_id)
    ).scalar()
    number = int(last or 0) + 1
    secret = secrets.token_urlsafe(32)
    key = ctx.settings.partner_key_bytes
    conn.execute(
        insert(PartnerCredential).values(
            partner_id=partner_id,
            number=number,
            sealed_secret=signing.seal(key, client_id, number, secret),
            key_id=signing.key_id(key),
            created_at=ctx.clock.now(),
            expires_at=None,
        )
    )
    return secret


def create(ctx: Context, actor: Actor, client_id: str, name: str, scopes: list[str]) -> str:
    actor.require("bureau_admin")
    if not signing.valid_client_id(client_id):
        raise InvalidInput("客户端编号须为 2–40 个小写字母、数字或连字符")
    if not name.strip() or len(name) > 100:
        raise InvalidInput("合作方名称须为 1–100 个字符")
    scope_text = _scopes(scopes)
    with ctx.db.begin() as conn:
        if conn.execute(select(Partner.id).where(Partner.client_id == client_id)).first():
            raise DuplicateCode(field="客户端编号", field_en="Client id", value=client_id)
        pid = conn.execute(
            insert(Partner)
            .values(
                client_id=client_id,
                name=name.strip(),
                scopes=scope_text,
                created_at=ctx.clock.now(),
            )
            .returning(Partner.id)
        ).scalar_one()
        secret = _new_credential(conn, ctx, int(pid), client_id)
        audit.record(
            conn,
            ctx,
            actor,
            "partner",
            "partner_created",
            target=client_id,
            after={"name": name.strip(), "scopes": scope_text},
        )
        return secret


def rotate(
    ctx: Context, actor: Actor, client_id: str, grace_hours: int = signing.GRACE_HOURS
) -> str:
    actor.require("bureau_admin")
    if not 0 <= grace_hours <= 24 * 30:
        raise InvalidInput("宽限期须为 0–720 小时")
    with ctx.db.begin() as conn:
        partner = _partner(conn, client_id, lock=True)
        if partner.revoked_at is not None:
            raise StateConflict(f"合作方 {client_id} 已撤销")
        now = ctx.clock.now()
        until = now + timedelta(hours=grace_hours)
        conn.execute(
            update(PartnerCredential)
            .where(
                PartnerCredential.partner_id == partner.id,
                (PartnerCredential.expires_at.is_(None)) | (PartnerCredential.expires_at > until),
            )
            .values(expires_at=until)
        )
        secret = _new_credential(conn, ctx, partner.id, client_id)
        audit.record(
            conn,
            ctx,
            actor,
            "partner",
            "partner_rotated",
            target=client_id,
            after={"old_valid_until": until.isoformat(), "grace_hours": grace_hours},
        )
        return secret


def revoke(ctx: Context, actor: Actor, client_id: str) -> None:
    actor.require("bureau_admin")
    with ctx.db.begin() as conn:
        partner = _partner(conn, client_id, lock=True)
        if partner.revoked_at is not None:
            raise StateConflict(f"合作方 {client_id} 已撤销")
        conn.execute(
            update(Partner).where(Partner.id == partner.id).values(revoked_at=ctx.clock.now())
        )
        audit.record(
            conn,
            ctx,
            actor,
            "partner",
            "partner_revoked",
            target=client_id,
            before={"scopes": partner.scopes},
        )


def _valid_secrets(conn: Connection, ctx: Context, partner: Row[Any], now: datetime) -> list[str]:
    rows = conn.execute(
        select(PartnerCredential.number, PartnerCredential.sealed_secret).where(
            PartnerCredential.partner_id == partner.id,
            (PartnerCredential.expires_at.is_(None)) | (PartnerCredential.expires_at > now),
        )
    ).all()
    key = ctx.settings.partner_key_bytes
    return [signing.unseal(key, partner.client_id, int(n), bytes(s)) for n, s in rows]


def authenticate(
    ctx: Context, method: str, path: str, query: str, authorization: str, body: bytes
) -> Caller:
    head = signing.parse(authorization)
    if head is None:
        raise PartnerUnauthorized(reason="malformed")
    now = ctx.clock.now()
    # The clock's now is naive UTC: its seconds since the epoch, as UTC.
    epoch = int((now - datetime(1970, 1, 1)).total_seconds())
    if abs(epoch - head.timestamp) > signing.WINDOW_S:
        raise PartnerUnauthorized(reason="timestamp")
    text = signing.canonical(method, path, query, head.timestamp, head.nonce, body)
    try:
        with ctx.db.begin() as conn:
            row = conn.execute(select(Partner).where(Partner.client_id == head.client_id)).first()
            if row is None:
                raise PartnerUnauthorized(reason="signature")
            partner = row
            if partner.revoked_at is not None:
                raise PartnerUnauthorized(reason="revoked")
            # Every valid secret is tried, each compared in constant time.
            ok = [
                signing.matches(s, text, head.signature)
                for s in _valid_secrets(conn, ctx, partner, now)
            ]
            if not any(ok):
                raise PartnerUnauthorized(reason="signature")
            seen = conn.execute(
                select(PartnerNonce.id).where(
                    PartnerNonce.partner_id == partner.id, PartnerNonce.nonce == head.nonce
                )
            ).first()
            if seen is not None:
                raise PartnerUnauthorized(reason="replay")
            conn.execute(
                delete(PartnerNonce).where(
                    PartnerNonce.partner_id == partner.id,
                    PartnerNonce.seen_at < now - timedelta(seconds=2 * signing.WINDOW_S),
                )
            )
            conn.execute(
                insert(PartnerNonce).values(partner_id=partner.id, nonce=head.nonce, seen_at=now)
            )
            return Caller(partner.id, partner.client_id, frozenset(partner.scopes.split()))
    except IntegrityError as exc:  # the same nonce at the same moment, twice
        raise PartnerUnauthorized(reason="replay") from exc
