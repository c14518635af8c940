"""Face pay's writes: consent, enrolment, withdrawal, the year-end purge, terminals.

Contract (each public function taking ``ctx`` is one transaction that checks the actor
again and writes its audit record, kind ``face``; no record ever holds face data):
- ``enrol(ctx, actor, person_id, image=…|descriptor=…, consent=…)`` — the person on /me
  or their unit's admin (or the bureau). The picture is read first (``NoFaceFound``:
  422, nothing written). A template is stored only under an open consent: one already
  recorded, or recorded now when ``consent`` is true (the person ticked it after the
  notice, or the admin holds their signed form); else ``FaceConsentRequired``. The
  descriptor is sealed (``faces.sealing``, key ``Settings.face_key_bytes``); a new one
  replaces the old. A person who left cannot enrol.
- ``withdraw(ctx, actor, person_id)`` — the person or their admin: the template is
  deleted at once and the consent ended (``withdrawn``). Returns whether a face was held.
- ``purge_leavers(conn, ctx, actor, regions=None)`` — inside the caller's transaction
  (the year-end run, ``funding.year_end``): every template of a person who left (of
  ``regions``: the fund region whose year ends; None: everyone) is deleted and their
  consent ended (``left``). Returns how many.
- ``check_reader(ctx, actor, person_id)`` — who may read a person's status (the same).
- ``set_liveness(ctx, actor, terminal_code, liveness)`` — the canteen's manager, its
  unit's admin or the bureau declare that a terminal runs liveness detection (face pay
  allowed) or not.
Every change drops this process's cached gallery of the region (``faces.gallery``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, delete, insert, select, true, update

from onecard.audit import service as audit
from onecard.core.context import Context
from onecard.core.errors import FaceConsentRequired, Forbidden, InvalidInput, NotFound
from onecard.faces import gallery
from onecard.faces.embedding import check_descriptor, describe
from onecard.faces.models import FaceConsent, FaceTemplate, FaceTerminal
from onecard.faces.sealing import key_id, seal
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person, Terminal

# The version of the notice a person reads before consenting (web/templates/diner/face.html).
NOTICE = "2026-11"


@dataclass(frozen=True)
class Enrolled:
    person_id: int
    consent_id: int
    consent_recorded: bool  # this call recorded the consent


def _person(conn: Connection, actor: Actor, person_id: int) -> tuple[int, int, str, str]:
    row = conn.execute(
        select(Person.region_id, Person.unit_id, Person.staff_no, Person.name, Person.status)
        .where(Person.id == person_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(what="人员")
    if actor.person_id != person_id and not actor.manages_unit(int(row.unit_id)):
        raise Forbidden()
    return int(row.region_id), int(row.unit_id), f"{row.staff_no} {row.name}", str(row.status)


def check_reader(ctx: Context, actor: Actor, person_id: int) -> None:
    """Who may see a person's face-pay status: the person, their unit's admin, the bureau."""
    with ctx.db.read() as conn:
        unit_id = conn.execute(select(Person.unit_id).where(Person.id == person_id)).scalar()
    if unit_id is None:
        raise NotFound(what="人员")
    if actor.person_id != person_id and not actor.manages_unit(int(unit_id)):
        raise Forbidden()


def _open_consent(conn: Connection, person_id: int) -> int | None:
    found = conn.execute(
        select(FaceConsent.id).where(
            FaceConsent.person_id == person_id, FaceConsent.ended_at.is_(None)
        )
    ).scalar()
    return int(found) if found is not None else None


def enrol(
    ctx: Context,
    actor: Actor,
    person_id: int,
    *,
    image: bytes | NDArray[np.uint8] | None = None,
    descriptor: list[float] | None = None,
    consent: bool = False,
) -> Enrolled:
    if (image is None) == (descriptor is None):
        raise InvalidInput("image 与 descriptor 须且只能给出一个")
    # The expensive part and its refusals come before any write.
    probe = describe(image) if image is not None else check_descriptor(descriptor or [])
    with ctx.db.begin() as conn:
        region_id, unit_id, target, status = _person(conn, actor, person_id)
        if status != "active":
            raise InvalidInput("已离职或停用的人员不能登记人脸")
        now = ctx.clock.now()
        consent_id = _open_consent(conn, person_id)
        recorded = False
        if consent_id is None:
            if not consent:
                raise FaceConsentRequired()
            via = "self" if actor.person_id == person_id else "admin"
            consent_id = int(
                conn.execute(
                    insert(FaceConsent)
                    .values(
                        region_id=region_id,
                        person_id=person_id,
                        notice=NOTICE,
                        given_via=via,
                        given_by=actor.label[:60],
                        given_at=now,
                    )
                    .returning(FaceConsent.id)
                ).scalar_one()
            )
            recorded = True
            audit.record(
                conn,
                ctx,
                actor,
                "face",
                "face_consent",
                target=target,
                unit_id=unit_id,
                person_id=person_id,
                after={"consent_id": consent_id, "notice": NOTICE, "via": via},
            )
        key = ctx.settings.face_key_bytes
        replaced = conn.execute(
            delete(FaceTemplate).where(FaceTemplate.person_id == person_id)
        ).rowcount
        conn.execute(
            insert(FaceTemplate).values(
                region_id=region_id,
                person_id=person_id,
                consent_id=consent_id,
                sealed=seal(key, person_id, probe),
                key_id=key_id(key),
                enrolled_by=actor.label[:60],
                enrolled_at=now,
            )
        )
        audit.record(
            conn,
            ctx,
            actor,
            "face",
            "face_enrol",
            target=target,
            unit_id=unit_id,
            person_id=person_id,
            after={"consent_id": consent_id, "replaced": bool(replaced)},
        )
    gallery.forget(ctx, region_id)
    return Enrolled(person_id, consent_id, recorded)


def _end(conn: Connection, ctx: Context, actor: Actor, person_ids: list[int], why: str) -> int:
    """Delete the templates of ``person_ids`` and end their open consents."""
    gone = conn.execute(delete(FaceTemplate).where(FaceTemplate.person_id.in_(person_ids))).rowcount
    conn.execute(
        update(FaceConsent)
        .where(FaceConsent.person_id.in_(person_ids), FaceConsent.ended_at.is_(None))
        .values(ended_at=ctx.clock.now(), ended_by=actor.label[:60], ended_why=why)
    )
    return int(gone or 0)


def withdraw(ctx: Context, actor: Actor, person_id: int) -> bool:
    with ctx.db.begin() as conn:
        region_id, unit_id, target, _ = _person(conn, actor, person_id)
        consent_id = _open_consent(conn, person_id)
        gone = _end(conn, ctx, actor, [person_id], "withdrawn")
        audit.record(
            conn,
            ctx,
            actor,
            "face",
            "face_withdraw",
            target=target,
            unit_id=unit_id,
            person_id=person_id,
            before={"consent_id": consent_id, "template": bool(gone)},
            after={"consent_id": None, "template": False},
        )
    gallery.forget(ctx, region_id)
    return bool(gone)


def purge_leavers(
    conn: Connection, ctx: Context, actor: Actor, regions: Collection[int] | None = None
) -> int:
    rows = conn.execute(
        select(Person.id, Person.region_id)
        .where(
            Person.status != "active",
            Person.region_id.in_(sorted(regions)) if regions is not None else true(),
            Person.id.in_(
                select(FaceConsent.person_id)
                .where(FaceConsent.ended_at.is_(None))
                .union(select(FaceTemplate.person_id))
            ),
        )
        .order_by(Person.id)
    ).all()
    if not rows:
        return 0
    gone = _end(conn, ctx, actor, [int(r.id) for r in rows], "left")
    audit.record(
        conn,
        ctx,
        actor,
        "face",
        "face_purge",
        data={"people": len(rows), "templates": gone},
    )
    for region_id in {int(r.region_id) for r in rows}:
        gallery.forget(ctx, region_id)
    return gone


def set_liveness(ctx: Context, actor: Actor, terminal_code: str, liveness: bool) -> None:
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(Terminal.id, Terminal.canteen_id, Canteen.unit_id)
            .join(Canteen, Canteen.id == Terminal.canteen_id)
            .where(Terminal.code == terminal_code)
        ).first()
        if row is None:
            raise NotFound(what=f"消费机 {terminal_code}")
        actor.require_canteen(int(row.canteen_id), int(row.unit_id))
        tid = int(row.id)
        before = conn.execute(
            select(FaceTerminal.liveness).where(FaceTerminal.terminal_id == tid)
        ).scalar()
        conn.execute(delete(FaceTerminal).where(FaceTerminal.terminal_id == tid))
        conn.execute(
            insert(FaceTerminal).values(
                terminal_id=tid, liveness=liveness, set_by=actor.label[:60], set_at=ctx.clock.now()
            )
        )
        audit.record(
            conn,
            ctx,
            actor,
            "face",
            "face_terminal",
            target=terminal_code,
            unit_id=int(row.unit_id),
            before={"liveness": bool(before)},
            after={"liveness": liveness},
        )
