"""Partners' tables: who may call the open API, with which secret, and which nonces
have been seen.

Contract:
- ``partners``: one row per partner system; ``client_id`` is what it names itself by in
  every request, ``scopes`` the space-separated scopes its agreement allows
  (``partners.signing.SCOPES``), ``revoked_at`` set when the bureau revokes it (every
  credential is refused from then on).
- ``partner_credentials``: its secrets. HMAC needs the secret itself on the server (a
  hash could not check a signature), so it is stored *encrypted* — AES-256-GCM under the
  key from settings (``partner_key``), the client id and credential's own number as
  associated data — never in clear. A rotation adds a new credential and gives the old
  ones ``expires_at`` (now + grace): both sign until then, only the new one after.
- ``partner_nonces``: each nonce a partner used, kept for the timestamp window (and a
  little more) so a replayed request is refused; ``(partner_id, nonce)`` is unique.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId


class Partner(Base):
    __tablename__ = "partners"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class PartnerCredential(Base):
    __tablename__ = "partner_credentials"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    number: Mapped[int] = mapped_column()  # 1, 2, 3 … per partner (associated data)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)  # nonce ‖ ciphertext ‖ tag
    key_id: Mapped[str] = mapped_column(String(16))  # which partner key sealed it
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    __table_args__ = (UniqueConstraint("partner_id", "number"),)


class PartnerNonce(Base):
    __tablename__ = "partner_nonces"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    __table_args__ = (UniqueConstraint("partner_id", "nonce"),)
