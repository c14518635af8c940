"""Settings, validated once at start-up (pydantic-settings, env prefix ``ONECARD_``).

Contract: ``get_settings()`` returns one frozen ``Settings``; outside development the
server refuses to start with the default secret key.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-only-not-secret"


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
    # The bank: ``files`` exchanges files with the bank's online banking (the real
    # adapter), ``sandbox`` is the simulated bank with its own store. Unset: the sandbox
    # outside production, files in production.
    bank: Literal["sandbox", "files"] | None = None
    # The sandbox bank's store (a SQLAlchemy URL). Empty: next to a SQLite database
    # (``<name>-bank-sandbox.db``), or schema ``bank_sandbox`` of a PostgreSQL one.
    bank_sandbox_url: str = ""

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and self.secret_key == DEFAULT_SECRET:
            raise ValueError("ONECARD_SECRET_KEY must be set in production")
        if len(self.region_no) != 3 or not self.region_no.isdigit():
            raise ValueError("ONECARD_REGION_NO must be three digits")
        if self.env == "production" and self.bank == "sandbox":
            raise ValueError("ONECARD_BANK=sandbox is a simulation: not in production")
        return self

    @property
    def bank_adapter(self) -> Literal["sandbox", "files"]:
        """The configured bank adapter (``bank``, else by environment)."""
        if self.bank is not None:
            return self.bank
        return "files" if self.env == "production" else "sandbox"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
