"""Partners' read models: the bureau's list (never a secret) and what the partner API
reads.

Contract: ``partners(ctx)`` — every partner with its scopes, status, credentials still
valid now and when the newest was issued; one read transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.partners.models import Partner, PartnerCredential


def partners(ctx: Context) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    valid = (
        select(
            PartnerCredential.partner_id,
            func.count().label("valid"),
            func.max(PartnerCredential.created_at).label("newest"),
        )
        .where((PartnerCredential.expires_at.is_(None)) | (PartnerCredential.expires_at > now))
        .group_by(PartnerCredential.partner_id)
        .subquery()
    )
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                Partner.client_id,
                Partner.name,
                Partner.scopes,
                Partner.revoked_at,
                valid.c.valid,
                valid.c.newest,
            )
            .outerjoin(valid, valid.c.partner_id == Partner.id)
            .order_by(Partner.client_id)
        ).all()
    return [
        {
            "client_id": r.client_id,
            "name": r.name,
            "scopes": r.scopes.split(),
            "status": "revoked" if r.revoked_at is not None else "active",
            "valid_credentials": int(r.valid or 0) if r.revoked_at is None else 0,
            "newest_credential_at": r.newest,
        }
        for r in rows
    ]
