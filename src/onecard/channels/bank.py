"""The bank channel: what the platform asks of its bank (CCB), and an in-memory sandbox.

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

``SandboxBank`` implements that contract in memory and deliberately mimics the real
protocol — synchronous accept, asynchronous signed notifications that are queued (not
called inline) and retried while the receiver fails, and a daily statement file — so
everything built on it keeps working when a real CCB adapter fills the same interface.
It also simulates the outside world (savings cards, units', operators' accounts) and
has a fault switch (``fail_next``) for timeouts. Its outcomes: an unknown card or
account fails with 账户不存在, too little money with 余额不足, a payee name that does not
match the account with 户名不符. Our statement memos are ``"<order_id> <summary>"``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

from onecard.channels.statement import StatementLine, render_statement_file
from onecard.core.clock import Clock, to_local
from onecard.core.errors import (
    AuthError,
    Conflict,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    NotFound,
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


class BankUnavailable(OneCardError):
    code = "bank_unavailable"
    zh = "银行系统暂时无法访问，请稍后使用同一订单号重试"
    en = "The bank is unavailable; retry later with the same order id"


class BadSignature(AuthError):
    code = "bad_signature"
    zh = "银行通知签名无效"
    en = "Invalid bank notification signature"


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
        _check_amount(amount)
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


def _check_amount(amount_fen: object) -> int:
    if (
        not isinstance(amount_fen, int)
        or isinstance(amount_fen, bool)
        or not 0 < amount_fen <= MAX_AMOUNT_FEN
    ):
        raise InvalidAmount(amount=amount_fen)
    return amount_fen


def _check_order_id(order_id: object) -> str:
    if not isinstance(order_id, str) or not _ORDER_ID_RE.fullmatch(order_id):
        raise InvalidInput("order id must be 1-64 characters of A-Z a-z 0-9 _ -")
    return order_id


@dataclass(frozen=True)
class _Order:
    request: tuple[object, ...]  # what was asked, to tell a replay from a conflict
    ack: BankAck


@dataclass
class _OutsideAccount:
    name: str
    balance_fen: int


class SandboxBank:
    """An in-memory bank that speaks the real protocol (see the module docstring)."""

    def __init__(self, secret: bytes, clock: Clock | None = None) -> None:
        if not secret:
            raise ValueError("the notification secret must not be empty")
        self._secret = secret
        self._clock = clock or Clock()
        self._lock = threading.Lock()
        self._platform: dict[str, int] = dict.fromkeys(PLATFORM_ACCOUNTS.values(), 0)
        self._outside: dict[str, _OutsideAccount] = {}
        self._orders: dict[str, _Order] = {}
        self._lines: list[StatementLine] = []
        self._outbox: deque[tuple[bytes, str]] = deque()
        self._faults: deque[bool] = deque()  # one entry per failing request: lost_reply?
        self._ref_seq = 0
        self._serial_seq = 0

    # --- setting up the simulated world -------------------------------------------------
    def open_outside_account(self, account_no: str, name: str, balance_fen: int = 0) -> None:
        """A person's savings card, a unit's or an operator's account at any bank."""
        if not isinstance(balance_fen, int) or isinstance(balance_fen, bool) or balance_fen < 0:
            raise InvalidAmount(amount=balance_fen)
        if not account_no or not name:
            raise InvalidInput("account number and name are required")
        with self._lock:
            if account_no in self._outside or account_no in self._platform:
                raise Conflict(f"account {account_no} already exists")
            self._outside[account_no] = _OutsideAccount(name, balance_fen)

    def credit_from_outside(
        self, from_account: str, to_platform_account: str, amount_fen: int, memo: str
    ) -> StatementLine:
        """An outside account (e.g. a unit paying its quarterly funds) sends us money.

        It shows on the statement as a 贷 line carrying the sender's own memo.
        """
        _check_amount(amount_fen)
        with self._lock:
            src = self._outside.get(from_account)
            if src is None:
                raise NotFound(what=f"outside account {from_account}")
            if to_platform_account not in self._platform:
                raise NotFound(what=f"platform account {to_platform_account}")
            if src.balance_fen < amount_fen:
                raise InsufficientFunds(f"outside account {from_account}")
            src.balance_fen -= amount_fen
            return self._post(
                to_platform_account, "credit", amount_fen, src.name, from_account, memo
            )

    def fail_next(self, n: int = 1, *, lost_reply: bool = False) -> None:
        """The next ``n`` requests raise ``BankUnavailable``.

        With ``lost_reply`` the bank does take the request and only the answer is lost
        (the nasty kind of timeout): a retry with the same order id gets the same ack.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._faults.extend([lost_reply] * n)

    # --- inspecting it -----------------------------------------------------------------
    def platform_balance(self, account_no: str) -> int:
        with self._lock:
            if account_no not in self._platform:
                raise NotFound(what=f"platform account {account_no}")
            return self._platform[account_no]

    def outside_balance(self, account_no: str) -> int:
        with self._lock:
            acct = self._outside.get(account_no)
            if acct is None:
                raise NotFound(what=f"outside account {account_no}")
            return acct.balance_fen

    # --- the gateway -------------------------------------------------------------------
    def debit_card_for_topup(self, order_id: str, card_no: str, amount_fen: int) -> BankAck:
        _check_order_id(order_id)
        _check_amount(amount_fen)
        request: tuple[object, ...] = ("topup", card_no, amount_fen)
        with self._lock:
            lost_reply = self._take_fault()
            ack = self._replay(order_id, request)
            if ack is None:
                ack = self._accept(order_id, request)
                card = self._outside.get(card_no)
                if card is None:
                    self._notify(ack, "topup", amount_fen, REASON_NO_ACCOUNT)
                elif card.balance_fen < amount_fen:
                    self._notify(ack, "topup", amount_fen, REASON_INSUFFICIENT)
                else:
                    card.balance_fen -= amount_fen
                    memo = f"{order_id} {TOPUP_SUMMARY}"
                    self._post(INCOME_ACCOUNT, "credit", amount_fen, card.name, card_no, memo)
                    self._notify(ack, "topup", amount_fen, None)
            if lost_reply:
                raise BankUnavailable("reply lost")
            return ack

    def pay_out(
        self,
        order_id: str,
        to_account: str,
        to_name: str,
        amount_fen: int,
        purpose: str,
        *,
        from_account: str | None = None,
    ) -> BankAck:
        """Transfer out of a platform account (default: the expenditure account).

        ``to_account`` may also be another platform account (an internal transfer).
        """
        _check_order_id(order_id)
        _check_amount(amount_fen)
        source = EXPENDITURE_ACCOUNT if from_account is None else from_account
        if source not in PLATFORM_ACCOUNT_NAMES:
            raise NotFound(what=f"platform account {source}")
        if to_account == source:
            raise InvalidInput("cannot pay an account to itself")
        request: tuple[object, ...] = ("payout", source, to_account, to_name, amount_fen, purpose)
        with self._lock:
            lost_reply = self._take_fault()
            ack = self._replay(order_id, request)
            if ack is None:
                ack = self._accept(order_id, request)
                self._execute_payout(ack, source, to_account, to_name, amount_fen, purpose)
            if lost_reply:
                raise BankUnavailable("reply lost")
            return ack

    def statement(self, day: date) -> list[StatementLine]:
        with self._lock:
            self._take_fault_for_query()
            return [line for line in self._lines if line.day == day]

    def statement_file(self, day: date) -> bytes:
        with self._lock:
            self._take_fault_for_query()
            lines = [line for line in self._lines if line.day == day]
        return render_statement_file(lines)

    def verify_notification(self, body: bytes, signature: str) -> Notification:
        return verify_signed(self._secret, body, signature)

    # --- the callback side -------------------------------------------------------------
    def pending_notifications(self) -> list[tuple[bytes, str]]:
        """(body, signature) of every notification not yet delivered, oldest first."""
        with self._lock:
            return list(self._outbox)

    def deliver(self, handler: Callable[[bytes, str], None]) -> int:
        """Call ``handler(body, signature)`` for each pending notification.

        Like a bank's callback retry: a notification whose handler raises goes back on
        the queue (ahead of newer ones) for the next ``deliver``. The handler runs without
        the bank's lock held. Returns how many were delivered.
        """
        with self._lock:
            batch = list(self._outbox)
            self._outbox.clear()
        failed: list[tuple[bytes, str]] = []
        for item in batch:
            try:
                handler(*item)
            except Exception:
                failed.append(item)
        if failed:
            with self._lock:
                self._outbox.extendleft(reversed(failed))
        return len(batch) - len(failed)

    # --- internals (caller holds the lock) ---------------------------------------------
    def _now(self) -> datetime:
        return self._clock.now().replace(microsecond=0)

    def _take_fault(self) -> bool:
        """Raise now for a plain fault; return True when the reply must be lost later."""
        if not self._faults:
            return False
        lost_reply = self._faults.popleft()
        if not lost_reply:
            raise BankUnavailable("timed out")
        return True

    def _take_fault_for_query(self) -> None:
        if self._faults:
            self._faults.popleft()
            raise BankUnavailable("timed out")

    def _replay(self, order_id: str, request: tuple[object, ...]) -> BankAck | None:
        known = self._orders.get(order_id)
        if known is None:
            return None
        if known.request != request:
            raise IdempotencyConflict(f"order {order_id}")
        return known.ack

    def _accept(self, order_id: str, request: tuple[object, ...]) -> BankAck:
        now = self._now()
        self._ref_seq += 1
        ack = BankAck(order_id, f"SBX{to_local(now):%Y%m%d}{self._ref_seq:08d}", now)
        self._orders[order_id] = _Order(request, ack)
        return ack

    def _execute_payout(
        self, ack: BankAck, source: str, to_account: str, to_name: str, amount: int, purpose: str
    ) -> None:
        if to_account in PLATFORM_ACCOUNT_NAMES:
            payee_name: str | None = PLATFORM_ACCOUNT_NAMES[to_account]
        else:
            payee = self._outside.get(to_account)
            payee_name = None if payee is None else payee.name
        if payee_name is None:
            self._notify(ack, "payout", amount, REASON_NO_ACCOUNT)
            return
        if payee_name != to_name:
            self._notify(ack, "payout", amount, REASON_NAME_MISMATCH)
            return
        if self._platform[source] < amount:
            self._notify(ack, "payout", amount, REASON_INSUFFICIENT)
            return
        memo = f"{ack.order_id} {purpose}" if purpose else ack.order_id
        self._post(source, "debit", amount, to_name, to_account, memo)
        if to_account in self._platform:
            self._post(to_account, "credit", amount, PLATFORM_ACCOUNT_NAMES[source], source, memo)
        else:
            self._outside[to_account].balance_fen += amount
        self._notify(ack, "payout", amount, None)

    def _post(
        self,
        account_no: str,
        direction: Literal["credit", "debit"],
        amount: int,
        cp_name: str,
        cp_account: str,
        memo: str,
    ) -> StatementLine:
        self._platform[account_no] += amount if direction == "credit" else -amount
        local = to_local(self._now())
        self._serial_seq += 1
        line = StatementLine(
            day=local.date(),
            time=local.time(),
            serial=f"{local:%Y%m%d}{self._serial_seq:010d}",
            direction=direction,
            amount_fen=amount,
            counterparty_name=cp_name,
            counterparty_account=cp_account,
            memo=memo,
            balance_fen=self._platform[account_no],
            account_no=account_no,
        )
        self._lines.append(line)
        return line

    def _notify(self, ack: BankAck, kind: OrderKind, amount: int, reason: str | None) -> None:
        note = Notification(
            order_id=ack.order_id,
            bank_ref=ack.bank_ref,
            status="succeeded" if reason is None else "failed",
            amount_fen=amount,
            failure_reason=reason,
            occurred_at=self._now(),
            kind=kind,
        )
        body = note.to_body()
        self._outbox.append((body, sign_body(self._secret, body)))


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
    "SandboxBank",
    "StatementLine",
    "sign_body",
    "verify_signed",
]
