"""Read models of face pay.

Contract: reads only, one read transaction each.
- ``enrolled_faces(ctx, regions)`` — the regions' version (``gallery_version``) and
  every template in them with what identification reads of its person (unit, category,
  phone, staff number), in one snapshot.
- ``gallery_version(ctx, regions)`` — (count, largest id) of the regions' templates:
  any enrolment or deletion changes it (``faces.gallery``'s cache key).
- ``face_status(ctx, person_id)`` — the person's open consent and enrolment, if any.
- ``takes_faces(ctx, terminal_id)`` — the terminal declared liveness detection.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, select

from onecard.core.context import Context
from onecard.faces.models import FaceConsent, FaceTemplate, FaceTerminal
from onecard.org.models import Person


@dataclass(frozen=True)
class EnrolledFace:
    person_id: int
    unit_id: int
    category: str
    phone: str | None
    staff_no: str
    sealed: bytes


@dataclass(frozen=True)
class FaceStatus:
    consent_id: int | None
    consent_at: datetime | None
    consent_via: str | None
    enrolled_at: datetime | None
    enrolled_by: str | None

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None


def _in(regions: Collection[int]) -> ColumnElement[bool]:
    if len(regions) == 1:
        return FaceTemplate.region_id == next(iter(regions))
    return FaceTemplate.region_id.in_(sorted(regions))


def _version(conn: Connection, regions: Collection[int]) -> tuple[int, int]:
    n, top = conn.execute(
        select(func.count(), func.coalesce(func.max(FaceTemplate.id), 0)).where(_in(regions))
    ).one()
    return int(n), int(top)


def gallery_version(ctx: Context, regions: Collection[int]) -> tuple[int, int]:
    with ctx.db.read() as conn:
        return _version(conn, regions)


def enrolled_faces(
    ctx: Context, regions: Collection[int]
) -> tuple[tuple[int, int], list[EnrolledFace]]:
    with ctx.db.read() as conn:
        version = _version(conn, regions)
        rows = conn.execute(
            select(
                FaceTemplate.person_id,
                Person.unit_id,
                Person.category,
                Person.phone,
                Person.staff_no,
                FaceTemplate.sealed,
            )
            .join(Person, Person.id == FaceTemplate.person_id)
            .where(_in(regions))
            .order_by(FaceTemplate.id)
        ).all()
    return version, [
        EnrolledFace(int(r[0]), int(r[1]), str(r[2]), r[3], str(r[4]), bytes(r[5])) for r in rows
    ]


def face_status(ctx: Context, person_id: int) -> FaceStatus:
    with ctx.db.read() as conn:
        consent = conn.execute(
            select(FaceConsent.id, FaceConsent.given_at, FaceConsent.given_via)
            .where(FaceConsent.person_id == person_id, FaceConsent.ended_at.is_(None))
            .order_by(FaceConsent.id.desc())
        ).first()
        tpl = conn.execute(
            select(FaceTemplate.enrolled_at, FaceTemplate.enrolled_by).where(
                FaceTemplate.person_id == person_id
            )
        ).first()
    return FaceStatus(
        int(consent.id) if consent else None,
        consent.given_at if consent else None,
        str(consent.given_via) if consent else None,
        tpl.enrolled_at if tpl else None,
        str(tpl.enrolled_by) if tpl else None,
    )


def takes_faces(ctx: Context, terminal_id: int) -> bool:
    with ctx.db.read() as conn:
        found = conn.execute(
            select(FaceTerminal.liveness).where(FaceTerminal.terminal_id == terminal_id)
        ).scalar()
    return bool(found)
