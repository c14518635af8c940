"""One-time account codes: made, stored as an HMAC, checked — never kept in clear.

Contract:
- ``new_code()`` is 10 characters from an alphabet without look-alikes (no 0/O, 1/I/L),
  shown as ``XXXXX-XXXXX``: read off paper and typed in. 31¹⁰ ≈ 8·10¹⁴ codes, so even
  the most guesses the sign-in throttle lets through in a code's life find none.
- ``normalise(text)`` is what a person typed, as compared: upper case, only letters and
  digits (spaces and dashes dropped).
- ``store(conn, …)`` replaces the person's code of that kind (a new code revokes the old)
  with the HMAC (the secret key) of the new one; ``matches(conn, …)`` says whether a
  typed code is the person's live code of that kind; ``drop`` deletes it (used).
- Kinds: ``activation`` (web.account_activation) and ``demo_skip`` (the demo's stand-in
  for an authenticator code; ``demo_skip_ok`` refuses it in production;
  ``demo_skip_offered`` says whether the second-factor page offers it: never in
  production).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from onecard.core.context import Context
from onecard.org.session_models import AccountCode

ACTIVATION = "activation"
DEMO_SKIP = "demo_skip"
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise(text: str) -> str:
    return "".join(c for c in text.upper() if c.isascii() and c.isalnum())[:40]


def code_hash(ctx: Context, kind: str, code: str) -> str:
    key = ctx.settings.secret_key.encode()
    return hmac.new(key, f"{kind}:{normalise(code)}".encode(), hashlib.sha256).hexdigest()


def store(
    conn: Connection,
    ctx: Context,
    person_id: int,
    kind: str,
    code: str,
    now: datetime,
    days: int,
    issued_by: str,
) -> datetime:
    """Replace the person's code of ``kind`` with ``code``; returns when it expires."""
    expires = now + timedelta(days=days)
    drop(conn, person_id, kind)
    conn.execute(
        insert(AccountCode).values(
            person_id=person_id,
            kind=kind,
            code_hash=code_hash(ctx, kind, code),
            issued_at=now,
            expires_at=expires,
            issued_by=issued_by[:60],
        )
    )
    return expires


def matches(
    conn: Connection, ctx: Context, person_id: int, kind: str, code: str, now: datetime
) -> bool:
    row = conn.execute(
        select(AccountCode.code_hash, AccountCode.expires_at).where(
            AccountCode.person_id == person_id, AccountCode.kind == kind
        )
    ).first()
    given = code_hash(ctx, kind, code)
    return (
        row is not None
        and row.expires_at > now
        and len(normalise(code)) == LENGTH
        and hmac.compare_digest(str(row.code_hash), given)
    )


def live_until(conn: Connection, person_id: int, kind: str, now: datetime) -> datetime | None:
    until = conn.execute(
        select(AccountCode.expires_at).where(
            AccountCode.person_id == person_id, AccountCode.kind == kind
        )
    ).scalar()
    return until if until is not None and until > now else None


def demo_skip_offered(ctx: Context, person_id: int) -> bool:
    if ctx.settings.env == "production":
        return False
    with ctx.db.read() as conn:
        return live_until(conn, person_id, DEMO_SKIP, ctx.clock.now()) is not None


def drop(conn: Connection, person_id: int, kind: str) -> None:
    conn.execute(
        delete(AccountCode).where(AccountCode.person_id == person_id, AccountCode.kind == kind)
    )


def demo_skip_ok(conn: Connection, ctx: Context, person_id: int, code: str, now: datetime) -> bool:
    """The demo's printed code in place of an authenticator code — never in production."""
    if ctx.settings.env == "production":
        return False
    return matches(conn, ctx, person_id, DEMO_SKIP, code, now)
