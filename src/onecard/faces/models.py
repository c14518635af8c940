"""Face pay's tables (R-F3): consent, the encrypted templates, terminals able to take faces.

Contract:
- ``face_consents``: every consent a person gave to face pay (the purpose and retention
  notice they were shown: ``notice``), by whom it was recorded (the person on /me, or
  their unit's admin with the signed paper form) and when it ended (withdrawn by the
  person or their admin, or the person left: ``ended_why``). Kept after the template is
  deleted: the proof of consent holds no face data.
- ``face_templates``: at most one per person (``person_id`` unique), only while a consent
  is open (``consent_id``); ``sealed`` is the 128-d float32 descriptor encrypted with
  AES-256-GCM (12-byte nonce, then ciphertext and tag; the person's id is the associated
  data, so a template moved to another person does not decrypt), ``key_id`` names the
  key that sealed it. Deleting the row deletes the face: nothing else holds it.
- ``face_terminals``: a terminal may take face payments only with a row saying it runs
  liveness detection (``liveness``); no row is no face pay.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

CONSENT_VIA = ("self", "admin")
CONSENT_ENDS = ("withdrawn", "left")


class FaceConsent(Base):
    __tablename__ = "face_consents"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    notice: Mapped[str] = mapped_column(String(20))  # the notice's version shown
    given_via: Mapped[str] = mapped_column(String(10))
    given_by: Mapped[str] = mapped_column(String(60))
    given_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_by: Mapped[str | None] = mapped_column(String(60))
    ended_why: Mapped[str | None] = mapped_column(String(10))
    __table_args__ = (
        CheckConstraint("given_via IN ('self','admin')", name="given_via"),
        CheckConstraint("ended_why IS NULL OR ended_why IN ('withdrawn','left')", name="ended_why"),
    )


class FaceTemplate(Base):
    __tablename__ = "face_templates"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger, index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    consent_id: Mapped[int] = mapped_column(ForeignKey("face_consents.id"))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    enrolled_by: Mapped[str] = mapped_column(String(60))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime)


class FaceTerminal(Base):
    __tablename__ = "face_terminals"
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    liveness: Mapped[bool] = mapped_column(Boolean)
    set_by: Mapped[str] = mapped_column(String(60))
    set_at: Mapped[datetime] = mapped_column(DateTime)
