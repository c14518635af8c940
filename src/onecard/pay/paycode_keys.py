"""Rotating a person's payment-code secret: on request, or because their phone was lost.

What "lost" means per credential (docs/architecture.md, "Lost cards and lost phones"):
a card reported lost stops that card only (``pay.cards.report_lost``); the payment code
lives on the phone, so a lost *phone* is reported here: the secret is rotated and the
person's sessions end (a phone signed in to /me shows codes and can fetch the secret).

Contract:
- ``rotate(ctx, actor, person_id, phone_lost=False)`` is one transaction; the person
  themself, their unit's admin or the bureau may. The person gets a new random token and
  secret; the old token is kept in ``paycode_retired_tokens`` and never drawn again, so
  a code made with the old secret (it carries the old token) is refused as
  ``code_revoked`` by ``pay.service`` and by the payment batch from the moment this
  commits. ``phone_lost`` also ends every session of the person (``end_sessions``).
  One audit event (kind ``paycode``: ``phone_lost`` or ``paycode_rotated``) with the
  tokens before and after — never a secret. Returns the new token and whether sessions
  were ended (``Rotation``), so pages say only what happened.
- ``is_retired(conn, token)``: was ``token`` a person's before a rotation?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from onecard.audit import service as audit
from onecard.core.context import Context
from onecard.core.errors import Forbidden, NotFound
from onecard.org import sessions
from onecard.org.actors import Actor
from onecard.org.builders import new_paycode_identity
from onecard.org.models import Person
from onecard.pay.models import RetiredPaycode


def is_retired(conn: Connection, token: str) -> bool:
    found = conn.execute(select(RetiredPaycode.token).where(RetiredPaycode.token == token))
    return found.first() is not None


def end_sessions(conn: Connection, ctx: Context, person_id: int) -> bool:
    """End every signed-in session of ``person_id`` in this transaction: whoever holds the
    lost phone is signed out everywhere at once."""
    sessions.end_person_sessions(conn, person_id, "phone_lost", ctx.clock.now())
    return True


@dataclass(frozen=True)
class Rotation:
    token: str
    sessions_ended: bool


def rotate(ctx: Context, actor: Actor, person_id: int, *, phone_lost: bool = False) -> Rotation:
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(
                Person.region_id, Person.unit_id, Person.staff_no, Person.name, Person.paycode_token
            )
            .where(Person.id == person_id)
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(what="人员")
        if actor.person_id != person_id and not actor.manages_unit(int(row.unit_id)):
            raise Forbidden()
        now = ctx.clock.now()
        conn.execute(
            insert(RetiredPaycode).values(
                token=row.paycode_token,
                region_id=row.region_id,
                person_id=person_id,
                retired_at=now,
            )
        )
        token, secret = new_paycode_identity(conn)
        conn.execute(
            update(Person)
            .where(Person.id == person_id)
            .values(paycode_token=token, paycode_secret=secret)
        )
        ended = end_sessions(conn, ctx, person_id) if phone_lost else False
        audit.record(
            conn,
            ctx,
            actor,
            "paycode",
            "phone_lost" if phone_lost else "paycode_rotated",
            target=f"{row.staff_no} {row.name}",
            unit_id=int(row.unit_id),
            person_id=person_id,
            before={"token": row.paycode_token},
            after={"token": token},
            data={"sessions_ended": ended} if phone_lost else None,
        )
        return Rotation(token, ended)


def device_secret(ctx: Context, person_id: int) -> dict[str, Any]:
    """What a phone needs to make the person's codes offline (the secret stays on the
    device): region, token, secret, step, digits, algorithm."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Person.paycode_token, Person.paycode_secret).where(Person.id == person_id)
        ).one()
    return {
        "region_no": ctx.settings.region_no,
        "token": row.paycode_token,
        "secret": row.paycode_secret,
        "step_seconds": ctx.settings.paycode_step_seconds,
        "digits": 6,
        "algorithm": "SHA1",
    }
