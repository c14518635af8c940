"""Settings, validated once at start-up (pydantic-settings, env prefix ``ONECARD_``).

Contract: ``get_settings()`` returns one frozen ``Settings``; outside development the
server refuses to start with the default secret key (it signs CSRF tokens and the sandbox
bank's notifications, and keys the enrolment codes' hashes), and production also wants
it long (at least ``MIN_PRODUCTION_SECRET`` characters) and the face templates' key
(``ONECARD_FACE_KEY``, 32 bytes as base64).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-only-not-secret"
MIN_PRODUCTION_SECRET = 32
FACE_KEY_BYTES = 32  # AES-256-GCM


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONECARD_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = Field(default_factory=lambda: f"sqlite:///{Path('onecard.db').resolve()}")
    # Read-only report pages and exports may run on a standby (docs/operations.md): e.g.
    # postgresql://u@h1,h2/onecard?target_session_attrs=prefer-standby. Unset: the main
    # database.
    reports_database_url: str | None = None
    secret_key: str = DEFAULT_SECRET
    # The city network's 3-digit number inside every payment code (telephone area code).
    region_no: str = "735"
    region_code: str = "431000"
    language: Literal["zh-CN", "en"] = "zh-CN"
    # The city's wall clock (IANA zone): business days, meal windows and every time a
    # person reads — pages, Excel, PDF statements. The database keeps UTC.
    timezone: str = "Asia/Shanghai"
    reversal_window_seconds: int = 600
    paycode_step_seconds: int = 30
    max_body_bytes: int = 64 * 1024
    # File uploads (roster and unit-table imports: ``…/import`` and multipart forms).
    max_upload_bytes: int = 10 * 1024 * 1024
    # Where year-end subsidy leftovers go: back to each funding unit (seed 001, default)
    # or to city finance (seed 000).
    year_end_return_to: Literal["unit", "finance"] = "unit"
    # Batch concurrent payments into one commit (PostgreSQL only).
    batch_payments: bool = False
    batch_window_ms: float = 2.0
    batch_max: int = 64
    # Batching threads per server process (each its own connection): while one waits
    # on PostgreSQL, the next batch is being decided.
    batch_workers: int = Field(default=1, ge=1, le=16)
    # The longest a payment request waits for its answer: past it, the terminal is told
    # 503 ``payment_not_confirmed`` (retry the same txn_id) and the server will not commit
    # that attempt (it checks the bound before each COMMIT).
    payment_wait_seconds: float = Field(default=10.0, ge=0.5, le=120.0)
    # /docs and /openapi.json: served in development and test; in production only when
    # set to true (the route list is nobody's business outside the intranet's developers).
    api_docs: bool | None = None

    @property
    def public_details(self) -> bool:
        """Counts, versions and internals on /status and /readyz: not in production."""
        return self.env != "production"

    @property
    def serve_api_docs(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.env != "production"

    # A signed-in session ends after this long without a request, and this long after
    # signing in whatever happens (org.sessions).
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=8, ge=1, le=24 * 7)
    # An activation code (a person's first password, or a reset) is valid this many days
    # (web.account_activation).
    activation_code_days: int = Field(default=14, ge=1, le=90)

    # The bank: ``files`` exchanges files with the bank's online banking (the real
    # adapter), ``sandbox`` is the simulated bank with its own store. Unset: the sandbox
    # outside production, files in production.
    bank: Literal["sandbox", "files"] | None = None
    # The sandbox bank's store (a SQLAlchemy URL). Empty: next to a SQLite database
    # (``<name>-bank-sandbox.db``), or schema ``bank_sandbox`` of a PostgreSQL one.
    bank_sandbox_url: str = ""

    # Face pay (faces/): the AES-256-GCM key of the face templates at rest, 32 bytes as
    # base64 (``python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"``).
    # Required in production; elsewhere unset means a key derived from the secret key.
    face_key: str = ""
    # 1:N identification: a match is at most this far (dlib's usual 0.6), the second best
    # at least this much farther, and a canteen accepting more people than this always
    # asks for the last 4 digits of the phone or staff number.
    # The partner API (partners/): the AES-256-GCM key the partners' HMAC secrets are
    # sealed with (HMAC needs the secret itself, so it is encrypted, not hashed), 32 bytes
    # as base64. Required in production; elsewhere unset means one derived from the secret key.
    partner_key: str = ""
    face_threshold: float = Field(default=0.6, gt=0.0, le=2.0)
    face_margin: float = Field(default=0.08, ge=0.0, le=1.0)
    face_digits_above: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "development" and self.secret_key in (DEFAULT_SECRET, ""):
            raise ValueError(f"ONECARD_SECRET_KEY must be set outside development ({self.env})")
        if self.env == "production" and len(self.secret_key) < MIN_PRODUCTION_SECRET:
            raise ValueError(
                f"ONECARD_SECRET_KEY must be at least {MIN_PRODUCTION_SECRET} characters"
                " in production"
            )
        if len(self.region_no) != 3 or not self.region_no.isdigit():
            raise ValueError("ONECARD_REGION_NO must be three digits")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"ONECARD_TIMEZONE is not a known time zone: {self.timezone}") from exc
        if self.env == "production" and not self.face_key:
            raise ValueError("ONECARD_FACE_KEY must be set in production (face templates)")
        if self.face_key:
            try:
                raw = base64.b64decode(self.face_key, validate=True)
            except ValueError as exc:
                raise ValueError("ONECARD_FACE_KEY is not base64") from exc
            if len(raw) != FACE_KEY_BYTES:
                raise ValueError(f"ONECARD_FACE_KEY must be {FACE_KEY_BYTES} bytes (base64)")
        if self.env == "production" and not self.partner_key:
            raise ValueError("ONECARD_PARTNER_KEY must be set in production (partner secrets)")
        if self.partner_key:
            try:
                raw = base64.b64decode(self.partner_key, validate=True)
            except ValueError as exc:
                raise ValueError("ONECARD_PARTNER_KEY is not base64") from exc
            if len(raw) != FACE_KEY_BYTES:
                raise ValueError(f"ONECARD_PARTNER_KEY must be {FACE_KEY_BYTES} bytes (base64)")
        if self.env == "production" and self.bank == "sandbox":
            raise ValueError("ONECARD_BANK=sandbox is a simulation: not in production")
        return self

    @property
    def face_key_bytes(self) -> bytes:
        """The face templates' AES-GCM key: ``face_key``, or outside production one
        derived from the secret key (so development and tests need no setting)."""
        if self.face_key:
            return base64.b64decode(self.face_key)
        return hashlib.sha256(b"onecard-face-key:" + self.secret_key.encode()).digest()

    @property
    def partner_key_bytes(self) -> bytes:
        """The partner secrets' AES-GCM key: ``partner_key``, or outside production one
        derived from the secret key."""
        if self.partner_key:
            return base64.b64decode(self.partner_key)
        return hashlib.sha256(b"onecard-partner-key:" + self.secret_key.encode()).digest()

    @property
    def bank_adapter(self) -> Literal["sandbox", "files"]:
        """The configured bank adapter (``bank``, else by environment)."""
        if self.bank is not None:
            return self.bank
        return "files" if self.env == "production" else "sandbox"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
