"""Tables behind signing in: server-side sessions, failure counters, enrolment codes.

Contract:
- ``web_sessions``: one row per browser session. The cookie holds only a random token;
  the row stores its SHA-256 (``token_hash``), so a copy of the table opens no session.
  A session is live while ``ended_at`` is NULL and it is within its idle and absolute
  expiry (``org.sessions``); ending one sets ``ended_at`` and ``end_reason`` (rows are kept
  for the person's "where am I signed in" list and removed a month after they end).
  ``data`` is the session's server-side state as JSON (the sign-in stage, the pending
  authenticator secret while enrolling, the till's last payment): never sent to the
  browser.
- ``sign_in_throttles``: one failure counter per (scope, key) — a client address, a staff
  number, a person — with the time of the last failure and until when the next attempt
  must wait (``web.throttle``).
- ``enrolment_codes``: the one live authenticator enrolment code a person may hold,
  issued by the bureau, stored as an HMAC; deleted when used or replaced.
- ``account_codes``: per person at most one live code of each ``kind`` — ``activation``
  (choose a first password, or a new one after a reset: ``web.account_activation``) and
  ``demo_skip`` (the demo's stand-in for an authenticator code, refused in production)
  — stored as an HMAC, replaced by a new one, deleted when an activation code is used.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[str] = mapped_column(Text, default="{}")


class SignInThrottle(Base):
    __tablename__ = "sign_in_throttles"
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)


class EnrolmentCode(Base):
    __tablename__ = "enrolment_codes"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    issued_by: Mapped[str] = mapped_column(String(60))


class AccountCode(Base):
    __tablename__ = "account_codes"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    issued_by: Mapped[str] = mapped_column(String(60))
    __table_args__ = (CheckConstraint("kind IN ('activation','demo_skip')", name="kind"),)
