"""The audit trail's tables: one append-only, hash-chained row per change a person made.

Contract: ``audit_events`` rows are written only by ``audit.service`` and never changed:
triggers refuse ``UPDATE`` and ``DELETE`` on both SQLite and PostgreSQL (``backstops``).
Each row carries its place in the chain (``seq``, gapless from 1), the hash of the row
before it (``prev_hash``; 64 zeros for the first) and its own ``hash`` — SHA-256 over
``prev_hash`` and every field of the row (``service.event_hash``). ``audit_chain`` is
one row (id 1): the last ``seq`` and ``hash``, locked to append (so chain appends are
serialised) and moved forward only (a trigger refuses going back or deleting it), so
removing the newest records shows as a head that points past the end of the chain.
``before``, ``after`` and ``data`` are canonical JSON (sorted keys) or NULL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC, like every timestamp
    actor: Mapped[str] = mapped_column(String(100))  # Actor.label ("person:7:张伟", "cli")
    actor_person_id: Mapped[int | None] = mapped_column(BigInteger)
    # Where the change came from: the client's address for a web request, "cli:user@host"
    # for a command, "" for work the system did on its own.
    origin: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # service.KINDS
    action: Mapped[str] = mapped_column(String(40))
    unit_id: Mapped[int | None] = mapped_column(BigInteger)  # the unit the change concerns
    person_id: Mapped[int | None] = mapped_column(BigInteger)  # the person it concerns
    target: Mapped[str] = mapped_column(String(200))  # card number, canteen, quarter, file…
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_kind_at", "kind", "at"),
        Index("ix_audit_events_unit_at", "unit_id", "at"),
        Index("ix_audit_events_person", "person_id"),
        Index("ix_audit_events_actor_person", "actor_person_id"),
        CheckConstraint("seq > 0", name="seq_positive"),
    )


class AuditChain(Base):
    """The head of the chain: one row, id 1."""

    __tablename__ = "audit_chain"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)
