"""The sandbox bank: a simulated bank with its own store, shared by every process.

Contract: ``SandboxBank`` fills ``BankGateway`` exactly like a real corporate bank API —
synchronous accept, asynchronous HMAC-signed notifications, a daily statement — and
keeps everything (accounts, orders, statement lines, the notification outbox) in its
own store, a SQLAlchemy URL (``ONECARD_BANK_SANDBOX_URL``; a SQLite file next to the
city's database by default, schema ``bank_sandbox`` on PostgreSQL). So the server, the
CLI and ``onecard bank-sandbox`` all see one bank, and what a command sent is still at
the bank after it ends. ``"sqlite://"`` is a private in-memory store (tests, benches).

- Orders are decided when accepted (the outcome is fixed at the bank) and their
  notifications queued in the outbox; ``deliver(handler)`` hands each to the handler —
  the same function the real callback route calls — and keeps it queued while the
  handler fails (a bank's callback retry). Delivery leases each notification for
  ``LEASE_SECONDS`` so two deliverers (the server's courier, a CLI command) never hand
  the same one over at once; handlers are idempotent anyway.
- It also simulates the world around the platform (``open_outside_account``,
  ``credit_from_outside``: a unit paying its funds in) and online banking for the file
  exchange (``process_batch_file``: executes a batch file we wrote and answers with the
  return file; ``statement_xlsx``: the bank's Excel export).
- Outcomes: an unknown card or account fails with 账户不存在, too little money with
  余额不足, a payee name that does not match the account with 户名不符. Our statement
  memos are ``"<order_id> <purpose>"``. ``fail_next`` makes the next requests time out
  (in this process only: it simulates the network between us and the bank).
- Writes are serialised: a thread lock in the process, ``BEGIN IMMEDIATE`` on SQLite, a
  transaction-level advisory lock on PostgreSQL.
"""

from __future__ import annotations

import json
import time as wall
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Time,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from onecard.channels import bankfiles
from onecard.channels.bank import (
    PLATFORM_ACCOUNT_NAMES,
    REASON_INSUFFICIENT,
    REASON_NAME_MISMATCH,
    REASON_NO_ACCOUNT,
    TOPUP_SUMMARY,
    BankAck,
    Notification,
    OrderKind,
    check_amount,
    check_order_id,
    sign_body,
    verify_signed,
)
from onecard.channels.sandbox_store import SandboxStore
from onecard.channels.statement import (
    StatementLine,
    render_statement_file,
    render_statement_xlsx,
)
from onecard.core.clock import Clock, to_local
from onecard.core.context import Context
from onecard.core.errors import (
    BankUnavailable,
    Conflict,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    NotFound,
)
from onecard.org.models import Person

LEASE_SECONDS = 60.0
REASON_DUPLICATE = "业务参考号重复"
PG_SCHEMA = "bank_sandbox"
_LOCK_KEY = 0x0BA4C5B0  # the PostgreSQL advisory lock the sandbox's writers share

meta = MetaData()
accounts = Table(
    "sbx_accounts",
    meta,
    Column("account_no", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("platform", Boolean, nullable=False),
)
orders = Table(
    "sbx_orders",
    meta,
    Column("order_id", String(64), primary_key=True),
    Column("request", Text, nullable=False),  # JSON of what was asked
    Column("bank_ref", String(40), nullable=False),
    Column("accepted_at", DateTime, nullable=False),
)
lines = Table(
    "sbx_lines",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False, index=True),
    Column("time", Time, nullable=False),
    Column("serial", String(40), nullable=False, unique=True),
    Column("direction", String(6), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("cp_name", String(100), nullable=False),
    Column("cp_account", String(40), nullable=False),
    Column("memo", Text, nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("account_no", String(40), nullable=False),
)
outbox = Table(
    "sbx_outbox",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("body", LargeBinary, nullable=False),
    Column("signature", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("leased_until", Float),  # wall-clock seconds; None = free to deliver
)
counters = Table(
    "sbx_counters",
    meta,
    Column("name", String(20), primary_key=True),
    Column("value", BigInteger, nullable=False),
)


# The statements every order runs, built once: building a statement and its cache key
# cost more than running it on SQLite (a payout is about a dozen of them).
_ACCOUNT = select(accounts).where(accounts.c.account_no == bindparam("no"))
_ACCOUNTS = select(accounts).where(accounts.c.account_no.in_(bindparam("nos", expanding=True)))
_MOVE = (
    update(accounts)
    .where(accounts.c.account_no == bindparam("no"))
    .values(balance_fen=accounts.c.balance_fen + bindparam("amount", type_=BigInteger))
    .returning(accounts.c.balance_fen)
)
_NEXT = (
    update(counters)
    .where(counters.c.name == bindparam("counter"))
    .values(value=counters.c.value + 1)
    .returning(counters.c.value)
)
_ORDER = select(orders).where(orders.c.order_id == bindparam("order_id"))
_ADD_ORDER = insert(orders)
_ADD_LINE = insert(lines)
_ADD_NOTE = insert(outbox)


def _seed(conn: Connection) -> None:
    """The platform's accounts and the reference counters, once per store."""
    have = set(conn.execute(select(accounts.c.account_no)).scalars())
    for no, name in PLATFORM_ACCOUNT_NAMES.items():
        if no not in have:
            conn.execute(
                insert(accounts).values(account_no=no, name=name, balance_fen=0, platform=True)
            )
    known = set(conn.execute(select(counters.c.name)).scalars())
    for name in ("ref", "serial"):
        if name not in known:
            conn.execute(insert(counters).values(name=name, value=0))


class _Store(SandboxStore):
    """The bank's store, and the fault queue all views of it share."""

    def __init__(self, url: str) -> None:
        super().__init__(
            url, schema=PG_SCHEMA, lock_key=_LOCK_KEY, meta=meta, seed=_seed, max_overflow=4
        )
        self.faults: deque[bool] = deque()  # one per failing request: lost reply?


@dataclass
class SandboxBank:
    """A bank that speaks the real protocol, kept in its own store (module docstring)."""

    secret: bytes
    clock: Clock = field(default_factory=Clock)
    store: str | _Store = "sqlite://"

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("the notification secret must not be empty")
        if isinstance(self.store, str):
            self.store = _Store(self.store)

    @property
    def _s(self) -> _Store:
        assert isinstance(self.store, _Store)
        return self.store

    @property
    def store_url(self) -> str:
        return self._s.url

    def with_clock(self, clock: Clock) -> SandboxBank:
        """The same bank (store, lock, faults) seen through another clock (a replay)."""
        return SandboxBank(self.secret, clock, self._s)

    def dispose(self) -> None:
        self._s.dispose()

    # --- setting up the simulated world -------------------------------------------------
    def open_outside_account(self, account_no: str, name: str, balance_fen: int = 0) -> None:
        """A person's savings card, a unit's or an operator's account at any bank."""
        if not isinstance(balance_fen, int) or isinstance(balance_fen, bool) or balance_fen < 0:
            raise InvalidAmount(amount=balance_fen)
        if not account_no or not name:
            raise InvalidInput("account number and name are required")
        with self._s.tx() as conn:
            if _account(conn, account_no) is not None:
                raise Conflict(f"account {account_no} already exists")
            conn.execute(
                insert(accounts).values(
                    account_no=account_no, name=name, balance_fen=balance_fen, platform=False
                )
            )

    def credit_from_outside(
        self, from_account: str, to_platform_account: str, amount_fen: int, memo: str
    ) -> StatementLine:
        """An outside account (e.g. a unit paying its quarterly funds) sends us money.

        It shows on the statement as a 贷 line carrying the sender's own memo.
        """
        check_amount(amount_fen)
        with self._s.tx() as conn:
            src = _account(conn, from_account)
            if src is None or src.platform:
                raise NotFound(what=f"outside account {from_account}")
            dst = _account(conn, to_platform_account)
            if dst is None or not dst.platform:
                raise NotFound(what=f"platform account {to_platform_account}")
            if src.balance_fen < amount_fen:
                raise InsufficientFunds(f"outside account {from_account}")
            _move(conn, from_account, -amount_fen)
            return self._post(
                conn, to_platform_account, "credit", amount_fen, src.name, from_account, memo
            )

    def fail_next(self, n: int = 1, *, lost_reply: bool = False) -> None:
        """The next ``n`` requests raise ``BankUnavailable``.

        With ``lost_reply`` the bank does take the request and only the answer is lost
        (the nasty kind of timeout): a retry with the same order id gets the same ack.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        with self._s.lock:
            self._s.faults.extend([lost_reply] * n)

    # --- inspecting it -----------------------------------------------------------------
    def platform_balance(self, account_no: str) -> int:
        return self._balance(account_no, platform=True)

    def outside_balance(self, account_no: str) -> int:
        return self._balance(account_no, platform=False)

    def _balance(self, account_no: str, *, platform: bool) -> int:
        with self._s.tx() as conn:
            acct = _account(conn, account_no)
        if acct is None or bool(acct.platform) != platform:
            kind = "platform" if platform else "outside"
            raise NotFound(what=f"{kind} account {account_no}")
        return int(acct.balance_fen)

    # --- the gateway -------------------------------------------------------------------
    def debit_card_for_topup(self, order_id: str, card_no: str, amount_fen: int) -> BankAck:
        check_order_id(order_id)
        check_amount(amount_fen)
        request = ["topup", card_no, amount_fen]
        with self._s.tx() as conn:
            lost_reply = self._take_fault()
            ack = _replay(conn, order_id, request)
            if ack is None:
                ack = self._accept(conn, order_id, request)
                memo = f"{order_id} {TOPUP_SUMMARY}"
                reason = self._collect(conn, memo, card_no, None, amount_fen)[0]
                self._notify(conn, ack, "topup", amount_fen, reason)
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
        from onecard.channels.bank import EXPENDITURE_ACCOUNT

        check_order_id(order_id)
        check_amount(amount_fen)
        source = EXPENDITURE_ACCOUNT if from_account is None else from_account
        if source not in PLATFORM_ACCOUNT_NAMES:
            raise NotFound(what=f"platform account {source}")
        if to_account == source:
            raise InvalidInput("cannot pay an account to itself")
        request = ["payout", source, to_account, to_name, amount_fen, purpose]
        with self._s.tx() as conn:
            lost_reply = self._take_fault()
            ack = _replay(conn, order_id, request)
            if ack is None:
                ack = self._accept(conn, order_id, request)
                memo = bankfiles.purpose_with_reference(order_id, purpose)
                reason = self._transfer(conn, source, to_account, to_name, amount_fen, memo)[0]
                self._notify(conn, ack, "payout", amount_fen, reason)
        if lost_reply:
            raise BankUnavailable("reply lost")
        return ack

    def statement(self, day: date) -> list[StatementLine]:
        with self._s.tx() as conn:
            self._take_fault_for_query()
            return _lines_of(conn, day)

    def statement_file(self, day: date) -> bytes:
        return render_statement_file(self.statement(day))

    def statement_xlsx(self, day: date) -> bytes:
        """The day's statement as the bank's Excel export (title rows above the table)."""
        title = (
            "中国建设银行 单位账户交易明细（沙箱）",
            f"查询账户：一卡通平台全部账户　起止日期：{day.isoformat()} 至 {day.isoformat()}",
        )
        return render_statement_xlsx(self.statement(day), title)

    def verify_notification(self, body: bytes, signature: str) -> Notification:
        return verify_signed(self.secret, body, signature)

    # --- online banking for the file exchange ------------------------------------------
    def process_batch_file(
        self, data: bytes, filename: str = "", fmt: bankfiles.FileFormat = "csv"
    ) -> bytes:
        """Execute a batch file (transfers or card debits) as online banking would and
        answer with its return file. A line whose reference was already executed keeps
        its first result; nothing is notified (the file exchange has no callbacks)."""
        batch = bankfiles.parse_batch(data, filename)
        out: list[bankfiles.ReturnLine] = []
        with self._s.tx() as conn:
            for ln in batch:
                out.append(self._execute_line(conn, ln))
        return bankfiles.render_returns(out, fmt)

    def _execute_line(self, conn: Connection, ln: bankfiles.BatchLine) -> bankfiles.ReturnLine:
        request = ["file", ln.payer_account, ln.payee_account, ln.payee_name, ln.amount_fen]
        known = conn.execute(_ORDER, {"order_id": ln.reference}).first()
        if known is not None:
            # A file line's stored request ends with its outcome (reason, serial).
            done = json.loads(known.request)
            if done[0] == "file":
                reason, serial = str(done[-2]) or None, str(done[-1])
            else:
                reason, serial = REASON_DUPLICATE, ""
        else:
            payer = _account(conn, ln.payer_account)
            if payer is not None and payer.platform:
                reason, serial = self._transfer(
                    conn,
                    ln.payer_account,
                    ln.payee_account,
                    ln.payee_name,
                    ln.amount_fen,
                    ln.purpose,
                )
            else:  # a card debit (代扣) into one of our accounts
                reason, serial = self._collect(
                    conn,
                    ln.purpose,
                    ln.payer_account,
                    ln.payer_name,
                    ln.amount_fen,
                    into=ln.payee_account,
                )
            self._accept(conn, ln.reference, [*request, reason or "", serial])
        now = to_local(self._now()).replace(tzinfo=None)
        # The counterparty: the payee of a transfer, the card holder of a card debit.
        ours = ln.payer_account in PLATFORM_ACCOUNT_NAMES
        return bankfiles.ReturnLine(
            reference=ln.reference,
            account=ln.payee_account if ours else ln.payer_account,
            name=ln.payee_name if ours else ln.payer_name,
            amount_fen=ln.amount_fen,
            paid=not reason,
            reason=reason or "",
            serial=serial,
            at=now,
        )

    # --- the callback side -------------------------------------------------------------
    def pending_notifications(self) -> list[tuple[bytes, str]]:
        """(body, signature) of every notification not yet delivered, oldest first."""
        with self._s.tx() as conn:
            rows = conn.execute(select(outbox.c.body, outbox.c.signature).order_by(outbox.c.id))
            return [(bytes(r.body), str(r.signature)) for r in rows]

    def deliver(self, handler: Callable[[bytes, str], Any], *, retry_after: float = 0.0) -> int:
        """Call ``handler(body, signature)`` for each pending notification, oldest first.

        Like a bank's callback retry: a notification whose handler raises stays queued
        (ahead of newer ones) — for the next ``deliver``, or with ``retry_after`` not
        before ``retry_after × 2^(attempts so far)`` seconds (at most 5 minutes). The
        handler runs outside the store's lock. Returns how many were delivered.
        """
        now = wall.time()
        with self._s.tx() as conn:
            batch = conn.execute(
                select(outbox.c.id, outbox.c.body, outbox.c.signature)
                .where((outbox.c.leased_until.is_(None)) | (outbox.c.leased_until < now))
                .order_by(outbox.c.id)
            ).all()
            if batch:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in batch]))
                    .values(leased_until=now + LEASE_SECONDS)
                )
        delivered: list[int] = []
        failed: list[int] = []
        for row in batch:
            try:
                handler(bytes(row.body), str(row.signature))
            except Exception:
                failed.append(int(row.id))
            else:
                delivered.append(int(row.id))
        if batch:
            with self._s.tx() as conn:
                if delivered:
                    conn.execute(delete(outbox).where(outbox.c.id.in_(delivered)))
                for fid in failed:
                    tries = int(
                        conn.execute(
                            update(outbox)
                            .where(outbox.c.id == fid)
                            .values(attempts=outbox.c.attempts + 1)
                            .returning(outbox.c.attempts)
                        ).scalar_one()
                    )
                    pause = min(retry_after * 2 ** (tries - 1), 300.0)
                    conn.execute(
                        update(outbox)
                        .where(outbox.c.id == fid)
                        .values(leased_until=wall.time() + pause if pause else None)
                    )
        return len(delivered)

    # --- internals (the caller holds the store's transaction) --------------------------
    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def _take_fault(self) -> bool:
        """Raise now for a plain fault; return True when the reply must be lost later."""
        if not self._s.faults:
            return False
        lost_reply = self._s.faults.popleft()
        if not lost_reply:
            raise BankUnavailable("timed out")
        return True

    def _take_fault_for_query(self) -> None:
        if self._s.faults:
            self._s.faults.popleft()
            raise BankUnavailable("timed out")

    def _accept(self, conn: Connection, order_id: str, request: list[Any]) -> BankAck:
        now = self._now()
        seq = _next(conn, "ref")
        ack = BankAck(order_id, f"SBX{to_local(now):%Y%m%d}{seq:08d}", now)
        conn.execute(
            _ADD_ORDER,
            {
                "order_id": order_id,
                "request": json.dumps(request, ensure_ascii=False),
                "bank_ref": ack.bank_ref,
                "accepted_at": now,
            },
        )
        return ack

    def _transfer(
        self, conn: Connection, source: str, to_account: str, to_name: str, amount: int, memo: str
    ) -> tuple[str | None, str]:
        """Move money out of a platform account: (failure reason or None, serial)."""
        found = {r.account_no: r for r in conn.execute(_ACCOUNTS, {"nos": [source, to_account]})}
        payer, payee = found.get(source), found.get(to_account)
        if payer is None or not payer.platform:
            return REASON_NO_ACCOUNT, ""
        if payee is None:
            return REASON_NO_ACCOUNT, ""
        if payee.name != to_name:
            return REASON_NAME_MISMATCH, ""
        if payer.balance_fen < amount:
            return REASON_INSUFFICIENT, ""
        line = self._post(conn, source, "debit", amount, to_name, to_account, memo)
        if payee.platform:
            self._post(conn, to_account, "credit", amount, payer.name, source, memo)
        else:
            _move(conn, to_account, amount)
        return None, line.serial

    def _collect(
        self,
        conn: Connection,
        memo: str,
        card_no: str,
        card_name: str | None,
        amount: int,
        *,
        into: str | None = None,
    ) -> tuple[str | None, str]:
        """Debit a savings card into one of our accounts (the income account unless
        ``into``): (failure reason or None, serial). ``card_name``, when given, must be
        the card holder's."""
        from onecard.channels.bank import INCOME_ACCOUNT

        target = _account(conn, into or INCOME_ACCOUNT)
        card = _account(conn, card_no)
        if card is None or card.platform or target is None or not target.platform:
            return REASON_NO_ACCOUNT, ""
        if card_name is not None and card.name != card_name:
            return REASON_NAME_MISMATCH, ""
        if card.balance_fen < amount:
            return REASON_INSUFFICIENT, ""
        _move(conn, card_no, -amount)
        line = self._post(conn, target.account_no, "credit", amount, card.name, card_no, memo)
        return None, line.serial

    def _post(
        self,
        conn: Connection,
        account_no: str,
        direction: Literal["credit", "debit"],
        amount: int,
        cp_name: str,
        cp_account: str,
        memo: str,
    ) -> StatementLine:
        """Move one of our accounts and write its statement line (balance after it)."""
        balance = _move(conn, account_no, amount if direction == "credit" else -amount)
        local = to_local(self._now())
        line = StatementLine(
            day=local.date(),
            time=local.time().replace(tzinfo=None),
            serial=f"{local:%Y%m%d}{_next(conn, 'serial'):010d}",
            direction=direction,
            amount_fen=amount,
            counterparty_name=cp_name,
            counterparty_account=cp_account,
            memo=memo,
            balance_fen=balance,
            account_no=account_no,
        )
        conn.execute(
            _ADD_LINE,
            {
                "day": line.day,
                "time": line.time,
                "serial": line.serial,
                "direction": direction,
                "amount_fen": amount,
                "cp_name": cp_name,
                "cp_account": cp_account,
                "memo": memo,
                "balance_fen": balance,
                "account_no": account_no,
            },
        )
        return line

    def _notify(
        self, conn: Connection, ack: BankAck, kind: OrderKind, amount: int, reason: str | None
    ) -> None:
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
        conn.execute(
            _ADD_NOTE,
            {
                "body": body,
                "signature": sign_body(self.secret, body),
                "created_at": self._now(),
                "attempts": 0,
                "leased_until": None,
            },
        )


def _account(conn: Connection, account_no: str) -> Any:
    return conn.execute(_ACCOUNT, {"no": account_no}).first()


def _move(conn: Connection, account_no: str, amount: int) -> int:
    """Add ``amount`` to an account; its new balance."""
    return int(conn.execute(_MOVE, {"no": account_no, "amount": amount}).scalar_one())


def _next(conn: Connection, name: str) -> int:
    return int(conn.execute(_NEXT, {"counter": name}).scalar_one())


def _replay(conn: Connection, order_id: str, request: list[Any]) -> BankAck | None:
    known = conn.execute(_ORDER, {"order_id": order_id}).first()
    if known is None:
        return None
    if json.loads(known.request) != request:
        raise IdempotencyConflict(f"order {order_id}")
    return BankAck(order_id, str(known.bank_ref), known.accepted_at)


def _lines_of(conn: Connection, day: date) -> list[StatementLine]:
    return [
        StatementLine(
            day=r.day,
            time=r.time if isinstance(r.time, dtime) else dtime.fromisoformat(str(r.time)),
            serial=r.serial,
            direction=r.direction,
            amount_fen=int(r.amount_fen),
            counterparty_name=r.cp_name,
            counterparty_account=r.cp_account,
            memo=r.memo,
            balance_fen=int(r.balance_fen),
            account_no=r.account_no,
        )
        for r in conn.execute(select(lines).where(lines.c.day == day).order_by(lines.c.id))
    ]


def open_demo_card(ctx: Context, person_id: int) -> None:
    """The demo city's savings cards do not exist in a fresh sandbox bank: open the
    person's bound card there with demo money (sandbox only; a real bank has them)."""
    bank = ctx.bank
    if not isinstance(bank, SandboxBank):
        return
    with ctx.db.read() as conn:
        row = conn.execute(
            select(Person.bank_card_no, Person.name).where(Person.id == person_id)
        ).one()
    if not row.bank_card_no:
        return
    try:
        bank.outside_balance(row.bank_card_no)
    except NotFound:
        bank.open_outside_account(row.bank_card_no, row.name, balance_fen=500_000)
