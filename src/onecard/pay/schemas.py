"""API types for terminals and diners (Pydantic v2, strict integers for money)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from onecard.core.money import MAX_AMOUNT_FEN


class ItemLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: StrictStr = Field(min_length=1, max_length=32)
    qty: StrictInt = Field(gt=0, le=999)


class PaymentIn(BaseModel):
    """One payment from a terminal. Give exactly one of ``meal``, ``amount_fen``, ``items``."""

    model_config = ConfigDict(extra="forbid")
    txn_id: StrictStr = Field(min_length=1, max_length=64, description="the terminal's own id")
    credential: StrictStr = Field(
        min_length=8, max_length=24, description="card number, or an 18-digit payment code"
    )
    meal: StrictStr | None = Field(default=None, max_length=20, description="meal period code")
    amount_fen: StrictInt | None = Field(default=None, gt=0, le=MAX_AMOUNT_FEN)
    items: list[ItemLine] | None = Field(default=None, max_length=50)


class Balances(BaseModel):
    subsidy_fen: int
    cash_fen: int


class Payer(BaseModel):
    name: str
    unit: str


class PaymentOut(BaseModel):
    """The till's answer. On refusal ``code``/``message`` say why and no money moved."""

    result: Literal["approved", "refused"]
    txn_id: str
    payment_id: int
    terminal: str
    canteen: str
    payer: Payer | None = None
    amount_fen: int | None = None
    subsidy_fen: int | None = None
    cash_fen: int | None = None
    balances: Balances | None = None
    meal: str | None = None
    diner_class: Literal["own", "visitor", "guest"] | None = None
    at: str | None = None
    code: str | None = None
    message: str | None = None


class ReversalOut(BaseModel):
    result: Literal["reversed"]
    txn_id: str
    payment_id: int
    amount_fen: int
    subsidy_fen: int
    cash_fen: int
    balances: Balances


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: StrictStr = Field(min_length=1, max_length=64)
    amount_fen: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    reason: StrictStr = Field(default="", max_length=200)


class RefundOut(BaseModel):
    refund_id: int
    payment_id: int
    amount_fen: int
    subsidy_fen: int
    cash_fen: int


class TerminalDay(BaseModel):
    day: str
    count: int
    total_fen: int


class FieldProblem(BaseModel):
    field: str
    problem: str


class RowProblem(BaseModel):
    row: int
    column: str
    problem: str


class ErrorDetail(BaseModel):
    """Every error answer's ``error`` (``web/errors.py``); the optional parts by code."""

    code: str = Field(description="stable, machine-readable")
    message: str = Field(description="Chinese unless the client asks for English")
    request_id: str = Field(description="also in the X-Request-ID header")
    fields: list[FieldProblem] | None = Field(default=None, description="invalid input")
    rows: list[RowProblem] | None = Field(default=None, description="a rejected import")
    checks: dict[str, str] | None = Field(default=None, description="not_ready")


class ErrorOut(BaseModel):
    error: ErrorDetail
