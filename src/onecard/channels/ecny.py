"""The e-CNY channel (数字人民币): what the platform asks of its e-CNY acquiring bank.

Contract (``EcnyGateway``), shaped like an operating bank's e-CNY merchant acquiring API
(付款码支付 / 订单查询 / 关单 / 退款 / 退款查询 / 对账单下载 / 异步通知):

- ``micropay(order_no, pay_code, amount_fen, subject)`` pulls ``amount_fen`` from the
  diner's e-CNY wallet behind the payment code (付款码, shown by the diner's wallet app)
  into the platform's merchant wallet. It answers synchronously with an ``EcnyTrade``:
  ``SUCCESS`` (with the operator's ``trade_no``) or ``FAILED`` with the reason (code
  invalid or used, wallet balance short). The same ``order_no`` again returns the first
  trade and moves no money twice; the same order number with another request raises
  ``IdempotencyConflict``. A call that does not answer raises ``EcnyUnavailable`` — the
  money may or may not have been taken: ask ``query``.
- ``query(order_no)`` — the order's state at the operator: ``SUCCESS``, ``FAILED``,
  ``CLOSED`` or ``NOT_FOUND`` (the request never arrived).
- ``close(order_no)`` closes an order the operator never took (``NOT_FOUND`` becomes
  ``CLOSED``: a late copy of the request is then refused); an order already decided
  answers with its state, unchanged.
- ``refund(refund_no, order_no, amount_fen)`` returns (part of) a successful payment to
  the wallet it came from; ``query_refund(refund_no)`` asks about one. Idempotent per
  ``refund_no``; refunds never exceed the payment.
- Every decided order or refund is also announced asynchronously: a signed
  ``EcnyNotice`` (canonical JSON body, hex HMAC-SHA256 over the raw body under the
  shared secret — the bank channel's scheme, ``channels.bank.sign_body``). Notices may
  come late, twice, or out of order: receivers apply them idempotently.
- ``bill_file(day)`` is the day's reconciliation file (对账单): one CSV line per
  successful payment and refund of that local (Asia/Shanghai) day (``render_bill`` /
  ``parse_bill``).
- Amounts are int fen 1..10**9; order numbers 1-64 of ``A-Za-z0-9_-``; anything else
  raises ``InvalidAmount`` / ``InvalidInput`` before sending.

``channels.factory.ecny_gateway(ctx)`` is the context's e-CNY gateway: the one given to
it (``ctx.ecny``), else the configured one (``ecny_for``), built once.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol, cast

from onecard.channels.bank import check_amount, check_order_id, sign_body
from onecard.core.errors import BadSignature, InvalidInput

TradeStatus = Literal["SUCCESS", "FAILED", "CLOSED", "NOT_FOUND"]
TradeKind = Literal["pay", "refund"]

# An e-CNY payment code as wallets show it: 19 digits starting with 01 (the sandbox's
# wallets make them so; real codes are of this length and prefix).
PAY_CODE_RE = re.compile(r"01[0-9]{17}")
REASON_CODE_INVALID = "付款码无效或已使用"
REASON_BALANCE = "钱包余额不足"
REASON_CLOSED = "订单已关闭"
REASON_REFUND_EXCEEDS = "退款金额超过可退金额"

BILL_HEADER = ["交易日期", "交易时间", "商户订单号", "交易流水号", "交易类型", "金额(分)"]
BILL_TYPES = {"pay": "支付", "refund": "退款"}
_NOTICE_KEYS = frozenset(
    {"notify_id", "kind", "order_no", "trade_no", "status", "amount_fen", "reason", "occurred_at"}
)


def check_pay_code(code: object) -> str:
    """A well-formed e-CNY payment code (spaces between groups allowed), else
    ``InvalidInput`` — refused before anything is written or sent."""
    if not isinstance(code, str):
        raise InvalidInput("数字人民币付款码应为 19 位数字，以 01 开头")
    plain = code.replace(" ", "")
    if not PAY_CODE_RE.fullmatch(plain) or not plain.isascii():
        raise InvalidInput("数字人民币付款码应为 19 位数字，以 01 开头")
    return plain


@dataclass(frozen=True)
class EcnyTrade:
    """The operator's answer about one order (``kind`` pay) or refund (``kind`` refund)."""

    kind: TradeKind
    order_no: str  # our order number (for a refund: our refund number)
    status: TradeStatus
    amount_fen: int
    trade_no: str | None = None  # the operator's serial, once it took the order
    reason: str | None = None  # why it failed or was closed
    at: datetime | None = None  # naive UTC: when it was decided


@dataclass(frozen=True)
class EcnyNotice:
    """One asynchronous, signed notice; ``notify_id`` is the same on every copy."""

    notify_id: str
    kind: TradeKind
    order_no: str
    trade_no: str
    status: Literal["SUCCESS", "FAILED"]
    amount_fen: int
    reason: str | None
    occurred_at: datetime  # naive UTC

    def to_body(self) -> bytes:
        doc: dict[str, Any] = {
            "notify_id": self.notify_id,
            "kind": self.kind,
            "order_no": self.order_no,
            "trade_no": self.trade_no,
            "status": self.status,
            "amount_fen": self.amount_fen,
            "reason": self.reason,
            "occurred_at": self.occurred_at.isoformat(),
        }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_body(cls, body: bytes) -> EcnyNotice:
        """Parse a (verified) body strictly; anything off raises ``InvalidInput``."""
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidInput("e-CNY notice is not JSON") from None
        if not isinstance(doc, dict) or set(doc) != _NOTICE_KEYS:
            raise InvalidInput("e-CNY notice fields are not the expected ones")
        if doc["kind"] not in ("pay", "refund") or doc["status"] not in ("SUCCESS", "FAILED"):
            raise InvalidInput("e-CNY notice kind or status unknown")
        for k in ("notify_id", "order_no", "trade_no", "occurred_at"):
            if not isinstance(doc[k], str):
                raise InvalidInput(f"e-CNY notice {k} must be a string")
        if (doc["status"] == "FAILED") != isinstance(doc["reason"], str):
            raise InvalidInput("a failed e-CNY notice carries a reason, a success none")
        try:
            at = datetime.fromisoformat(doc["occurred_at"])
        except ValueError:
            raise InvalidInput("e-CNY notice occurred_at is not ISO") from None
        return cls(
            notify_id=doc["notify_id"],
            kind=doc["kind"],
            order_no=check_order_id(doc["order_no"]),
            trade_no=doc["trade_no"],
            status=doc["status"],
            amount_fen=check_amount(doc["amount_fen"]),
            reason=doc["reason"],
            occurred_at=at.replace(tzinfo=None),
        )


def verify_notice(secret: bytes, body: bytes, signature: str) -> EcnyNotice:
    """Constant-time signature check, then a strict parse. Raises ``BadSignature``."""
    expected = sign_body(secret, body).encode("ascii")
    given = signature.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, given):
        raise BadSignature("数字人民币通知签名无效")
    return EcnyNotice.from_body(body)


@dataclass(frozen=True)
class BillLine:
    """One line of the operator's daily reconciliation file."""

    day: date  # local
    time: str  # HH:MM:SS local
    order_no: str  # our order number, or our refund number
    trade_no: str
    kind: TradeKind
    amount_fen: int


def render_bill(lines: list[BillLine]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(BILL_HEADER)
    for ln in lines:
        w.writerow(
            [
                ln.day.isoformat(),
                ln.time,
                ln.order_no,
                ln.trade_no,
                BILL_TYPES[ln.kind],
                ln.amount_fen,
            ]
        )
    return out.getvalue().encode("utf-8")


def parse_bill(data: bytes) -> list[BillLine]:
    """The lines of a reconciliation file; a malformed one raises ``InvalidInput``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("对账单不是 UTF-8 文本") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != BILL_HEADER:
        raise InvalidInput("对账单表头不符")
    kinds = {v: k for k, v in BILL_TYPES.items()}
    got: list[BillLine] = []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(BILL_HEADER) or row[4] not in kinds or not row[5].isdigit():
            raise InvalidInput(f"对账单第 {n} 行格式不符")
        try:
            day = date.fromisoformat(row[0])
        except ValueError:
            raise InvalidInput(f"对账单第 {n} 行日期不符") from None
        kind = cast(TradeKind, kinds[row[4]])
        got.append(BillLine(day, row[1], row[2], row[3], kind, int(row[5])))
    return got


class EcnyGateway(Protocol):
    """What the platform asks of any e-CNY acquirer (see the module's contract)."""

    def micropay(
        self, order_no: str, pay_code: str, amount_fen: int, subject: str
    ) -> EcnyTrade: ...

    def query(self, order_no: str) -> EcnyTrade: ...

    def close(self, order_no: str) -> EcnyTrade: ...

    def refund(self, refund_no: str, order_no: str, amount_fen: int) -> EcnyTrade: ...

    def query_refund(self, refund_no: str) -> EcnyTrade: ...

    def bill_file(self, day: date) -> bytes: ...

    def verify_notification(self, body: bytes, signature: str) -> EcnyNotice: ...


__all__ = [
    "BILL_HEADER",
    "BillLine",
    "EcnyGateway",
    "EcnyNotice",
    "EcnyTrade",
    "check_amount",
    "check_order_id",
    "check_pay_code",
    "parse_bill",
    "render_bill",
    "verify_notice",
]
