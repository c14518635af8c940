"""API types for terminals and diners (Pydantic v2, strict integers for money)."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictInt, StrictStr

from onecard.core.fields import ClientKey
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.faces.schemas import MAX_IMAGE_B64, ONE_OF_FACE, DescriptorValue

# An e-CNY wallet's payment code as ``channels.ecny.check_pay_code`` takes it: "01" and 17
# more digits, spaces allowed between them (so the document promises nothing it refuses).
ECNY_PAY_CODE = r"^01( ?[0-9]){17}$"


class ItemLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: StrictStr = Field(min_length=1, max_length=32)
    qty: StrictInt = Field(gt=0, le=999)


# ``pay.service.credential_shape_ok``, exactly, for the document: a card (8–16 digits) or a
# payment code (8 and 17 digits, spaces between), around it whatever ``str.strip()``
# strips (every ``str.isspace`` character). Checked by the service (one answer on both
# payment paths), so here only in the document.
_WS = r"[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
CREDENTIAL_PATTERN = rf"^{_WS}*(?:[0-9]{{8,16}}|8(?: *[0-9]){{17}}){_WS}*$"

_NULL: dict[str, JsonValue] = {"type": "null"}
_NO_ITEMS: dict[str, JsonValue] = {"anyOf": [_NULL, {"type": "array", "maxItems": 0}]}
# "Exactly one of meal, amount_fen, items" (``PaymentRequest.validate``), as the document
# says it: each branch names its own and leaves the other two out (or null, or no items).
ONE_OF_PRICING: list[JsonValue] = [
    {
        "title": "by meal period",
        "required": ["meal"],
        "properties": {"meal": {"type": "string"}, "amount_fen": _NULL, "items": _NO_ITEMS},
    },
    {
        "title": "by open amount",
        "required": ["amount_fen"],
        "properties": {"amount_fen": {"type": "integer"}, "meal": _NULL, "items": _NO_ITEMS},
    },
    {
        "title": "by item lines",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "minItems": 1},
            "meal": _NULL,
            "amount_fen": _NULL,
        },
    },
]


class PaymentIn(BaseModel):
    """One payment from a terminal. Give exactly one of ``meal``, ``amount_fen``, ``items``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": ONE_OF_PRICING})
    txn_id: ClientKey = Field(description="the terminal's own id")
    credential: StrictStr = Field(
        min_length=8,
        max_length=24,
        description="card number, or an 18-digit payment code",
        json_schema_extra={"pattern": CREDENTIAL_PATTERN},
    )
    meal: StrictStr | None = Field(default=None, max_length=20, description="meal period code")
    amount_fen: StrictInt | None = Field(default=None, gt=0, le=MAX_AMOUNT_FEN)
    items: list[ItemLine] | None = Field(default=None, max_length=50)


class FacePaymentIn(BaseModel):
    """A face payment (刷脸支付). Give exactly one of ``image_b64`` (a JPEG, base64) and
    ``descriptor`` (the terminal's own 128-d dlib descriptor), the terminal's liveness
    verdict, and exactly one of ``meal``, ``amount_fen``, ``items``. Answered like a
    payment, or ``result: "need_digits"`` (nothing recorded): send the same ``txn_id``
    again with ``digits``, the last 4 of the diner's phone or staff number."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"allOf": [{"oneOf": ONE_OF_PRICING}, {"oneOf": ONE_OF_FACE}]},
    )
    txn_id: ClientKey = Field(description="the terminal's own id")
    liveness: StrictBool = Field(description="the terminal's liveness check passed")
    image_b64: StrictStr | None = Field(default=None, max_length=MAX_IMAGE_B64)
    descriptor: list[DescriptorValue] | None = Field(default=None, min_length=128, max_length=128)
    digits: StrictStr | None = Field(default=None, pattern=r"^[0-9]{4}$")
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


class FacePaymentOut(BaseModel):
    """A face payment's answer: a payment's (``PaymentOut``), or ``need_digits`` with no
    ``payment_id`` (nothing recorded; ask the diner for the 4 digits)."""

    result: Literal["approved", "refused", "need_digits"]
    txn_id: str
    payment_id: int | None = None
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
    request_id: ClientKey
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


class AmountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    order_id: StrictStr | None = Field(
        default=None, min_length=4, max_length=40, pattern=r"^[A-Za-z0-9_-]+$"
    )


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card_no: StrictStr | None = Field(
        default=None, pattern=r"^[0-9]{8,16}$", description="leave out to get a new number"
    )


class CardOut(BaseModel):
    card_no: str
    status: Literal["active", "lost", "cancelled"]


class PaycodeRotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone_lost: StrictBool = Field(
        default=False, description="the phone was lost: also end every session of the person"
    )


class PaycodeRotateOut(BaseModel):
    person_id: int
    phone_lost: bool
    sessions_ended: bool = Field(description="every session of the person was ended")
    status: Literal["rotated"]


class TerminalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    canteen_id: StrictInt = Field(gt=0)
    code: StrictStr = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    name: StrictStr = Field(default="", max_length=60)


class TerminalOut(BaseModel):
    code: str
    device_key: str | None = Field(description="shown once, at registration only")
    status: str


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serves_visitors: StrictBool
    serves_guests: StrictBool
    purse_order: Literal["subsidy_first", "cash_first"]


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=20)
    starts: time
    ends: time
    per_person_limit: StrictInt = Field(ge=0, le=20, description="0 means no limit")
    prices: dict[Literal["own", "visitor", "guest"], StrictInt]


# --- e-CNY (数字人民币) ------------------------------------------------------------------------
class EcnyPaymentIn(BaseModel):
    """A payment by the diner's e-CNY payment code (付款码, shown by their wallet app).
    Give exactly one of ``meal`` (the guest price), ``amount_fen``, ``items``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": ONE_OF_PRICING})
    txn_id: ClientKey = Field(description="the terminal's own id")
    pay_code: StrictStr = Field(
        min_length=19,
        max_length=24,
        pattern=ECNY_PAY_CODE,
        description="the wallet's 19-digit code, starting 01",
    )
    meal: StrictStr | None = Field(default=None, max_length=20, description="meal period code")
    amount_fen: StrictInt | None = Field(default=None, gt=0, le=MAX_AMOUNT_FEN)
    items: list[ItemLine] | None = Field(default=None, max_length=50)


class EcnyPaymentOut(BaseModel):
    """The till's answer: ``approved``, ``refused`` (``code``/``message`` say why; no money
    moved) or ``pending`` (the acquirer's answer is not known yet: ask with GET)."""

    result: Literal["approved", "refused", "pending"]
    txn_id: str
    order_no: str
    terminal: str
    canteen: str
    channel: Literal["ecny"]
    amount_fen: int | None = None
    meal: str | None = None
    diner_class: Literal["guest"] | None = None
    at: str | None = None
    trade_no: str | None = None
    code: str | None = None
    message: str | None = None


class EcnyRefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refund_no: StrictStr = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    amount_fen: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    reason: StrictStr = Field(default="", max_length=200)


class EcnyRefundOut(BaseModel):
    refund_no: str
    order_no: str
    amount_fen: int
    status: Literal["pending", "succeeded", "failed"]


class EcnyTopupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pay_code: StrictStr = Field(min_length=19, max_length=24, pattern=ECNY_PAY_CODE)
    amount_fen: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    order_no: StrictStr | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")


class EcnyTopupOut(BaseModel):
    order_no: str
    status: Literal["pending", "succeeded", "failed"]
