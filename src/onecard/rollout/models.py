"""Rollout tables (R-R1, R-R3): every state move, acceptance inspections, supervision
notices.

Contract: rows are only ever added, except a notice's acknowledgement (set once). The
state itself lives on ``terminals.status`` and ``canteens.rollout_status``; a
``rollout_transitions`` row records each move of either — who, when, from, to — in the
same transaction as the move (and its audit event).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

SUBJECTS = ("terminal", "canteen")
NOTICE_KINDS = ("urge", "praise")


class RolloutTransition(Base):
    __tablename__ = "rollout_transitions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(10))
    # The terminal's or the canteen's id (``subject`` says which).
    subject_id: Mapped[int] = mapped_column(BigId, index=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(120))
    actor_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
    note: Mapped[str] = mapped_column(String(200), default="")
    __table_args__ = (CheckConstraint("subject IN ('terminal','canteen')", name="subject"),)


class Inspection(Base):
    __tablename__ = "rollout_inspections"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), index=True)
    inspected_on: Mapped[date] = mapped_column(Date)
    # The checklist as JSON: [{"item": "消费机可正常刷卡", "passed": true}, …].
    items: Mapped[str] = mapped_column(Text)
    passed: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    inspector: Mapped[str] = mapped_column(String(120))
    inspector_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


class RolloutNotice(Base):
    __tablename__ = "rollout_notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    issued_by: Mapped[str] = mapped_column(String(120))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint("kind IN ('urge','praise')", name="kind"),)
