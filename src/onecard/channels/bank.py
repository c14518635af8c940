"""The bank channel: what the platform asks of its bank (CCB), whichever adapter answers.

Contract (``BankGateway``), shaped like a real Chinese bank's corporate API:

- ``debit_card_for_topup`` asks the bank to debit a person's bound savings card — the
  master account (R-A2) — into the platform's income account, to top up their meal
  account. ``pay_out`` asks for a transfer from a platform account to an outside account
  (operator settlement, funds back to a unit, a leaver's cash refund to their card).
  Both answer synchronously only "accepted" (``BankAck`` with the bank's reference);
  the outcome arrives later as an asynchronous, signed ``Notification``. Both are
  idempotent per ``order_id``: the same request again returns the same ack and moves no
  money twice; the same order id with a different request raises
  ``IdempotencyConflict``. A failed order is final: retry under a new order id.
- ``verify_notification(body, signature)`` checks the hex HMAC-SHA256 of the raw body
  under the shared secret (constant-time) and raises ``BadSignature`` on a mismatch;
  only then is the body (canonical JSON: sorted keys, UTF-8) parsed.
- ``statement(day)`` lists every movement through the platform's accounts on that local
  (Asia/Shanghai) day, with serial numbers and running balances; ``statement_file(day)``
  is the same as the bank's CSV export (see ``statement.py``). Money a unit transfers to
  us arrives *only* this way: a 贷 line whose memo is what the unit wrote.
- A bank that cannot be reached raises ``BankUnavailable``; the caller retries with the
  same order id (the request may or may not have been taken — idempotency makes the
  retry safe).
- Amounts are int fen, 1..10**9; anything else raises ``InvalidAmount`` before sending.

Two adapters fill it (``channels.factory`` picks one from ``ONECARD_BANK``):
``files.FileExchangeBank``, the real one for a finance office that works through its
bank's online banking (batch files out, return files and statements in), and
``sandbox.SandboxBank``, a simulated bank with its own persistent store that speaks the
API protocol above (synchronous accept, asynchronous signed notifications queued and
retried while the receiver fails, a daily statement file). A corporate API adapter for a
real bank would fill the same five methods.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol, cast

from onecard.channels.statement import StatementLine
from onecard.core.context import Context
from onecard.core.errors import (
    BadSignature,
    BankUnavailable,
    InvalidAmount,
    InvalidInput,
    OneCardError,
)
from onecard.core.money import MAX_AMOUNT_FEN

NotificationStatus = Literal["succeeded", "failed"]
OrderKind = Literal["topup", "payout"]

# The platform's own accounts at the bank: role -> account number, and their names.
DINING_FUND_ACCOUNT = "43050163360000000001"
INCOME_ACCOUNT = "43050163360000000002"
EXPENDITURE_ACCOUNT = "43050163360000000003"
PLATFORM_ACCOUNTS: dict[str, str] = {
    "dining_fund": DINING_FUND_ACCOUNT,  # the bureau's dining-fund account: units pay in here
    "income": INCOME_ACCOUNT,  # system income line: top-ups land here
    "expenditure": EXPENDITURE_ACCOUNT,  # system expenditure line: payouts leave from here
}
PLATFORM_ACCOUNT_NAMES: dict[str, str] = {
    DINING_FUND_ACCOUNT: "市机关事务管理局就餐资金专户",
    INCOME_ACCOUNT: "市机关事务管理局一卡通收入户",
    EXPENDITURE_ACCOUNT: "市机关事务管理局一卡通支出户",
}

REASON_INSUFFICIENT = "余额不足"
REASON_NO_ACCOUNT = "账户不存在"
REASON_NAME_MISMATCH = "户名不符"
TOPUP_SUMMARY = "一卡通充值"

_ORDER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NOTIFICATION_KEYS = frozenset(
    {"order_id", "bank_ref", "kind", "status", "amount_fen", "failure_reason", "occurred_at"}
)


@dataclass(frozen=True)
class BankAck:
    """The bank's synchronous answer: the order is accepted, the outcome will follow."""

    order_id: str
    bank_ref: str
    accepted_at: datetime  # naive UTC


@dataclass(frozen=True)
class Notification:
    """The bank's asynchronous verdict on one order."""

    order_id: str
    bank_ref: str
    status: NotificationStatus
    amount_fen: int
    failure_reason: str | None  # None exactly when succeeded
    occurred_at: datetime  # naive UTC
    kind: OrderKind

    def to_body(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, UTF-8 (Chinese left unescaped)."""
        doc: dict[str, Any] = {
            "order_id": self.order_id,
            "bank_ref": self.bank_ref,
            "kind": self.kind,
            "status": self.status,
            "amount_fen": self.amount_fen,
            "failure_reason": self.failure_reason,
            "occurred_at": self.occurred_at.isoformat(),
        }
        return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8"
        )

    @classmethod
    def from_body(cls, body: bytes) -> Notification:
        """Parse a (verified) body strictly; anything off raises ``InvalidInput``."""
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"notification is not JSON: {exc}") from None
        if not isinstance(doc, dict) or set(doc) != _NOTIFICATION_KEYS:
            raise InvalidInput("notification fields are not the expected ones")
        order_id, bank_ref = doc["order_id"], doc["bank_ref"]
        kind, status, reason = doc["kind"], doc["status"], doc["failure_reason"]
        amount, occurred = doc["amount_fen"], doc["occurred_at"]
        if not isinstance(order_id, str) or not isinstance(bank_ref, str):
            raise InvalidInput("notification order_id/bank_ref must be strings")
        if kind not in ("topup", "payout"):
            raise InvalidInput(f"notification kind {kind!r} unknown")
        if status == "succeeded":
            if reason is not None:
                raise InvalidInput("a succeeded notification carries no failure reason")
        elif status == "failed":
            if not isinstance(reason, str) or not reason:
                raise InvalidInput("a failed notification needs a failure reason")
        else:
            raise InvalidInput(f"notification status {status!r} unknown")
        check_amount(amount)
        if not isinstance(occurred, str):
            raise InvalidInput("notification occurred_at must be a string")
        try:
            at = datetime.fromisoformat(occurred)
        except ValueError:
            raise InvalidInput(f"notification occurred_at {occurred!r} is not ISO") from None
        if at.tzinfo is not None:
            raise InvalidInput("notification occurred_at must be naive UTC")
        return cls(
            order_id=order_id,
            bank_ref=bank_ref,
            status=status,
            amount_fen=amount,
            failure_reason=reason,
            occurred_at=at,
            kind=kind,
        )


class BankGateway(Protocol):
    """What the platform asks of any bank. See the module docstring for the contract."""

    def debit_card_for_topup(self, order_id: str, card_no: str, amount_fen: int) -> BankAck: ...

    def pay_out(
        self,
        order_id: str,
        to_account: str,
        to_name: str,
        amount_fen: int,
        purpose: str,
        *,
        from_account: str | None = None,
    ) -> BankAck: ...

    def statement(self, day: date) -> list[StatementLine]: ...

    def statement_file(self, day: date) -> bytes: ...

    def verify_notification(self, body: bytes, signature: str) -> Notification: ...


def gateway(ctx: Context) -> BankGateway:
    """The bank this context was given at its edge (``Context.from_settings(bank=…)``,
    ``channels.factory.bank_for``); core knows no bank, so the type is said here."""
    bank = ctx.bank
    if bank is None:  # a wiring bug at an edge, never a user's doing
        raise OneCardError("no bank gateway was given to this context")
    return cast(BankGateway, bank)


def sign_body(secret: bytes, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signed(secret: bytes, body: bytes, signature: str) -> Notification:
    """Constant-time signature check, then a strict parse. Raises ``BadSignature``."""
    expected = sign_body(secret, body).encode("ascii")
    given = signature.strip().lower().encode("utf-8")
    if not hmac.compare_digest(expected, given):
        raise BadSignature()
    return Notification.from_body(body)


def check_amount(amount_fen: object) -> int:
    if (
        not isinstance(amount_fen, int)
        or isinstance(amount_fen, bool)
        or not 0 < amount_fen <= MAX_AMOUNT_FEN
    ):
        raise InvalidAmount(amount=amount_fen)
    return amount_fen


def check_order_id(order_id: object) -> str:
    if not isinstance(order_id, str) or not _ORDER_ID_RE.fullmatch(order_id):
        raise InvalidInput("order id must be 1-64 characters of A-Z a-z 0-9 _ -")
    return order_id


__all__ = [
    "DINING_FUND_ACCOUNT",
    "EXPENDITURE_ACCOUNT",
    "INCOME_ACCOUNT",
    "PLATFORM_ACCOUNTS",
    "PLATFORM_ACCOUNT_NAMES",
    "BadSignature",
    "BankAck",
    "BankGateway",
    "BankUnavailable",
    "Notification",
    "StatementLine",
    "check_amount",
    "check_order_id",
    "sign_body",
    "verify_signed",
]
