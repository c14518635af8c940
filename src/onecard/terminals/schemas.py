"""API types for offline terminals: enrolment, the working set, uploads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictStr

from onecard.terminals.service import MAX_BATCH

HEX64 = r"^[0-9a-fA-F]{64}$"


class OfflineKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: StrictStr = Field(pattern=HEX64, description="Ed25519 public key, 32 bytes as hex")


class OfflineKeyOut(BaseModel):
    terminal: str
    registered: bool


class WorkingSetOut(BaseModel):
    """A working set: in full, or what changed since the version the terminal holds."""

    version: int
    since: int | None = Field(description="the version these changes apply to; null: full")
    full: bool
    as_of: str = Field(description="UTC time this version was confirmed; sign it as synced_at")
    terminal: str
    canteen: dict[str, JsonValue]
    limits: dict[str, int]
    paycode: dict[str, JsonValue]
    upserts: dict[str, dict[str, JsonValue]] = Field(
        description="entries by key: meal:<code>, person:<id>, lost:<card_no>"
    )
    removals: list[str]


class SignedRecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: dict[str, JsonValue] = Field(description="the record's fields, as signed")
    body_hash: StrictStr = Field(pattern=HEX64, description="sha256 of the record, hex")
    signature: StrictStr = Field(
        pattern=r"^[0-9a-fA-F]{128}$", description="Ed25519 signature of body_hash, hex"
    )


class UploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[SignedRecordIn] = Field(min_length=1, max_length=MAX_BATCH)


class UploadOut(BaseModel):
    """One answer per record: applied, refused (code, message), duplicate or deferred."""

    results: list[dict[str, JsonValue]]
