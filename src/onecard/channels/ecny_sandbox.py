"""The sandbox e-CNY acquirer: a simulated operating bank with its own store.

Contract: ``SandboxEcny`` fills ``channels.ecny.EcnyGateway`` and keeps everything —
wallets, payment codes, orders, refunds, the notice outbox and how it is told to behave
— in its own store, a SQLAlchemy URL (a SQLite file next to the city's database, schema
``ecny_sandbox`` on PostgreSQL; ``"sqlite://"`` is a private in-memory store for tests).
So the server, the CLI and a later process all see one operator, and what a command
did is still there after it ends.

- The simulated world: ``open_wallet(wallet_id, name, balance_fen)`` and
  ``pay_code(wallet_id)`` (a fresh single-use 19-digit code, as the wallet app shows);
  ``wallet_balance`` / ``merchant_balance`` to look.
- Orders are decided when taken; each decision queues a signed notice.
  ``deliver(handler)`` hands every queued notice to the handler (the same function the
  real callback route calls) and keeps one whose handler raised.
- Misbehaviour, persisted in the store (``behave``): ``late`` holds every new notice
  back until ``release_late()``; ``duplicate`` queues each notice twice; ``reverse``
  delivers the newest first (out of order); ``timeouts`` = n makes the next n
  ``micropay`` calls take the money and then time out (``EcnyUnavailable``: only the
  reply is lost); ``down`` = n makes the next n calls of any kind time out before the
  operator sees them.
- Writes are serialised: a thread lock in the process, a transaction-level advisory
  lock on PostgreSQL (SQLite serialises writers itself).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from onecard.channels.bank import check_amount, check_order_id, sign_body
from onecard.channels.ecny import (
    REASON_BALANCE,
    REASON_CLOSED,
    REASON_CODE_INVALID,
    REASON_REFUND_EXCEEDS,
    BillLine,
    EcnyNotice,
    EcnyTrade,
    TradeStatus,
    check_pay_code,
    render_bill,
    verify_notice,
)
from onecard.channels.sandbox_store import SandboxStore
from onecard.core.clock import Clock, from_local, to_local
from onecard.core.errors import (
    Conflict,
    EcnyUnavailable,
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
    NotFound,
)

PG_SCHEMA = "ecny_sandbox"
_LOCK_KEY = 0x0EC4E7B0
MODES = ("late", "duplicate", "reverse", "timeouts", "down")

meta = MetaData()
wallets = Table(
    "esbx_wallets",
    meta,
    Column("wallet_id", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
)
codes = Table(
    "esbx_codes",
    meta,
    Column("code", String(19), primary_key=True),
    Column("wallet_id", String(40), nullable=False),
    Column("used", Boolean, nullable=False),
)
orders = Table(
    "esbx_orders",
    meta,
    Column("order_no", String(64), primary_key=True),
    Column("kind", String(6), nullable=False),  # pay | refund
    Column("request", Text, nullable=False),  # JSON of what was asked
    Column("parent", String(64)),  # a refund's payment order
    Column("wallet_id", String(40)),
    Column("trade_no", String(40)),
    Column("status", String(10), nullable=False),  # SUCCESS | FAILED | CLOSED
    Column("amount_fen", BigInteger, nullable=False),
    Column("refunded_fen", BigInteger, nullable=False, default=0),
    Column("reason", String(100)),
    Column("at", DateTime, nullable=False),
)
outbox = Table(
    "esbx_outbox",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("body", LargeBinary, nullable=False),
    Column("signature", String(64), nullable=False),
    Column("held", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
)
modes = Table(
    "esbx_modes",
    meta,
    Column("name", String(20), primary_key=True),
    Column("value", Integer, nullable=False),
)
counters = Table(
    "esbx_counters",
    meta,
    Column("name", String(20), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
MERCHANT = "merchant"  # the platform's merchant wallet at the operator


def _seed(conn: Connection) -> None:
    """The merchant's wallet, the counters and the misbehaviour switches, once per store."""
    if (
        conn.execute(select(wallets.c.wallet_id).where(wallets.c.wallet_id == MERCHANT)).first()
        is None
    ):
        conn.execute(insert(wallets).values(wallet_id=MERCHANT, name="一卡通平台", balance_fen=0))
    known = set(conn.execute(select(counters.c.name)).scalars())
    for name in ("trade", "code", "notice"):
        if name not in known:
            conn.execute(insert(counters).values(name=name, value=0))
    have = set(conn.execute(select(modes.c.name)).scalars())
    for name in MODES:
        if name not in have:
            conn.execute(insert(modes).values(name=name, value=0))


class _Store(SandboxStore):
    """The acquirer's store."""

    def __init__(self, url: str) -> None:
        super().__init__(url, schema=PG_SCHEMA, lock_key=_LOCK_KEY, meta=meta, seed=_seed)


@dataclass
class SandboxEcny:
    """An e-CNY acquirer that speaks the real protocol, kept in its own store."""

    secret: bytes
    clock: Clock = field(default_factory=Clock)
    store: str | _Store = "sqlite://"

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("the notice secret must not be empty")
        if isinstance(self.store, str):
            self.store = _Store(self.store)

    @property
    def _s(self) -> _Store:
        assert isinstance(self.store, _Store)
        return self.store

    def dispose(self) -> None:
        self._s.dispose()

    def with_clock(self, clock: Clock) -> SandboxEcny:
        """The same acquirer (store, lock) seen through another clock (a replay)."""
        return SandboxEcny(self.secret, clock, self._s)

    # --- the simulated world -----------------------------------------------------------
    def open_wallet(self, wallet_id: str, name: str, balance_fen: int = 0) -> None:
        if type(balance_fen) is not int or balance_fen < 0:
            raise InvalidAmount(amount=balance_fen)
        if not wallet_id or not name or wallet_id == MERCHANT:
            raise InvalidInput("wallet id and name are required")
        with self._s.tx() as conn:
            if _wallet(conn, wallet_id) is not None:
                raise Conflict(f"wallet {wallet_id} already exists")
            conn.execute(
                insert(wallets).values(wallet_id=wallet_id, name=name, balance_fen=balance_fen)
            )

    def pay_code(self, wallet_id: str) -> str:
        """A fresh single-use payment code of the wallet (what its app shows)."""
        with self._s.tx() as conn:
            if _wallet(conn, wallet_id) is None:
                raise NotFound(what=f"wallet {wallet_id}")
            code = f"01{_next(conn, 'code'):017d}"
            conn.execute(insert(codes).values(code=code, wallet_id=wallet_id, used=False))
        return code

    def wallet_balance(self, wallet_id: str) -> int:
        with self._s.tx() as conn:
            w = _wallet(conn, wallet_id)
        if w is None:
            raise NotFound(what=f"wallet {wallet_id}")
        return int(w.balance_fen)

    def merchant_balance(self) -> int:
        return self.wallet_balance(MERCHANT)

    def behave(self, **values: int | bool) -> None:
        """Set misbehaviours (module docstring), e.g. ``behave(late=True, timeouts=1)``."""
        with self._s.tx() as conn:
            for name, value in values.items():
                if name not in MODES:
                    raise InvalidInput(f"unknown sandbox behaviour {name!r}")
                conn.execute(update(modes).where(modes.c.name == name).values(value=int(value)))

    def behaviour(self) -> dict[str, int]:
        with self._s.tx() as conn:
            return {str(r.name): int(r.value) for r in conn.execute(select(modes))}

    def release_late(self) -> int:
        """Let every held notice go; how many were held."""
        with self._s.tx() as conn:
            return int(
                conn.execute(update(outbox).where(outbox.c.held).values(held=False)).rowcount
            )

    def pending_notices(self) -> list[tuple[bytes, str]]:
        with self._s.tx() as conn:
            rows = conn.execute(select(outbox.c.body, outbox.c.signature).order_by(outbox.c.id))
            return [(bytes(r.body), str(r.signature)) for r in rows]

    def deliver(self, handler: Callable[[bytes, str], Any], *, limit: int = 1000) -> int:
        """Hand queued notices (not held) to ``handler``, oldest first — newest first when
        told ``reverse`` — outside the store's lock; a notice whose handler raised stays
        queued. Returns how many were delivered."""
        with self._s.tx() as conn:
            reverse = _mode(conn, "reverse") > 0
            order = outbox.c.id.desc() if reverse else outbox.c.id
            batch = conn.execute(
                select(outbox.c.id, outbox.c.body, outbox.c.signature)
                .where(outbox.c.held.is_(False))
                .order_by(order)
                .limit(limit)
            ).all()
        done = 0
        for row in batch:
            try:
                handler(bytes(row.body), str(row.signature))
            except Exception:
                with self._s.tx() as conn:
                    conn.execute(
                        update(outbox)
                        .where(outbox.c.id == row.id)
                        .values(attempts=outbox.c.attempts + 1)
                    )
                continue
            with self._s.tx() as conn:
                conn.execute(delete(outbox).where(outbox.c.id == row.id))
            done += 1
        return done

    # --- the gateway -------------------------------------------------------------------
    def micropay(self, order_no: str, pay_code: str, amount_fen: int, subject: str) -> EcnyTrade:
        check_order_id(order_no)
        code = check_pay_code(pay_code)
        check_amount(amount_fen)
        request = ["pay", code, amount_fen]
        with self._s.tx() as conn:  # a lost reply is decided first: the call arrives
            lost_reply = _take(conn, "timeouts")
        if not lost_reply:
            self._down()
        with self._s.tx() as conn:
            known = conn.execute(select(orders).where(orders.c.order_no == order_no)).first()
            if known is not None:
                if known.status == "CLOSED":
                    trade = _trade(known)
                elif json.loads(known.request) != request:
                    raise IdempotencyConflict(f"order {order_no}")
                else:
                    trade = _trade(known)
            else:
                trade = self._take_payment(conn, order_no, code, amount_fen, request)
        if lost_reply:
            raise EcnyUnavailable("timed out after taking the payment")
        return trade

    def query(self, order_no: str) -> EcnyTrade:
        self._down()
        with self._s.tx() as conn:
            known = conn.execute(select(orders).where(orders.c.order_no == order_no)).first()
        if known is None or known.kind != "pay":
            return EcnyTrade("pay", order_no, "NOT_FOUND", 0)
        return _trade(known)

    def close(self, order_no: str) -> EcnyTrade:
        check_order_id(order_no)
        self._down()
        with self._s.tx() as conn:
            known = conn.execute(select(orders).where(orders.c.order_no == order_no)).first()
            if known is not None:
                return _trade(known)
            now = self._now()
            conn.execute(
                insert(orders).values(
                    order_no=order_no,
                    kind="pay",
                    request="[]",
                    status="CLOSED",
                    amount_fen=0,
                    refunded_fen=0,
                    reason=REASON_CLOSED,
                    at=now,
                )
            )
        return EcnyTrade("pay", order_no, "CLOSED", 0, reason=REASON_CLOSED, at=now)

    def refund(self, refund_no: str, order_no: str, amount_fen: int) -> EcnyTrade:
        check_order_id(refund_no)
        check_amount(amount_fen)
        request = ["refund", order_no, amount_fen]
        self._down()
        with self._s.tx() as conn:
            known = conn.execute(select(orders).where(orders.c.order_no == refund_no)).first()
            if known is not None:
                if known.kind != "refund" or json.loads(known.request) != request:
                    raise IdempotencyConflict(f"refund {refund_no}")
                return _trade(known)
            pay = conn.execute(
                select(orders).where(orders.c.order_no == order_no, orders.c.kind == "pay")
            ).first()
            if pay is None or pay.status != "SUCCESS":
                raise NotFound(what=f"e-CNY order {order_no}")
            now = self._now()
            ok = int(pay.refunded_fen) + amount_fen <= int(pay.amount_fen)
            trade_no = self._trade_no(conn)
            if ok:
                _move(conn, MERCHANT, -amount_fen)
                _move(conn, str(pay.wallet_id), amount_fen)
                conn.execute(
                    update(orders)
                    .where(orders.c.order_no == order_no)
                    .values(refunded_fen=orders.c.refunded_fen + amount_fen)
                )
            conn.execute(
                insert(orders).values(
                    order_no=refund_no,
                    kind="refund",
                    request=json.dumps(request),
                    parent=order_no,
                    wallet_id=pay.wallet_id,
                    trade_no=trade_no,
                    status="SUCCESS" if ok else "FAILED",
                    amount_fen=amount_fen,
                    refunded_fen=0,
                    reason=None if ok else REASON_REFUND_EXCEEDS,
                    at=now,
                )
            )
            trade = EcnyTrade(
                "refund",
                refund_no,
                "SUCCESS" if ok else "FAILED",
                amount_fen,
                trade_no,
                None if ok else REASON_REFUND_EXCEEDS,
                now,
            )
            self._notify(conn, trade)
        return trade

    def query_refund(self, refund_no: str) -> EcnyTrade:
        self._down()
        with self._s.tx() as conn:
            known = conn.execute(select(orders).where(orders.c.order_no == refund_no)).first()
        if known is None or known.kind != "refund":
            return EcnyTrade("refund", refund_no, "NOT_FOUND", 0)
        return _trade(known)

    def bill_file(self, day: date) -> bytes:
        start = from_local(datetime.combine(day, datetime.min.time()))
        end = from_local(datetime.combine(day + timedelta(days=1), datetime.min.time()))
        self._down()
        with self._s.tx() as conn:
            rows = conn.execute(
                select(orders)
                .where(orders.c.status == "SUCCESS", orders.c.at >= start, orders.c.at < end)
                .order_by(orders.c.at, orders.c.order_no)
            ).all()
        lines = [
            BillLine(
                day,
                f"{to_local(r.at):%H:%M:%S}",
                str(r.order_no),
                str(r.trade_no),
                "pay" if r.kind == "pay" else "refund",
                int(r.amount_fen),
            )
            for r in rows
        ]
        return render_bill(lines)

    def verify_notification(self, body: bytes, signature: str) -> EcnyNotice:
        return verify_notice(self.secret, body, signature)

    # --- inside ------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.clock.now().replace(tzinfo=None)

    def _down(self) -> None:
        """Time out before the operator sees the call, when told ``down`` (the count is
        used up in its own transaction, so the failing call cannot roll it back)."""
        with self._s.tx() as conn:
            down = _take(conn, "down")
        if down:
            raise EcnyUnavailable("timed out")

    def _trade_no(self, conn: Connection) -> str:
        return f"ECNY{to_local(self._now()):%Y%m%d}{_next(conn, 'trade'):010d}"

    def _take_payment(
        self, conn: Connection, order_no: str, code: str, amount: int, request: list[Any]
    ) -> EcnyTrade:
        now = self._now()
        found = conn.execute(select(codes).where(codes.c.code == code)).first()
        wallet_id = None if found is None or found.used else str(found.wallet_id)
        reason: str | None = None
        if wallet_id is None:
            reason = REASON_CODE_INVALID
        else:
            conn.execute(update(codes).where(codes.c.code == code).values(used=True))
            w = _wallet(conn, wallet_id)
            if w is None or int(w.balance_fen) < amount:
                reason = REASON_BALANCE
            else:
                _move(conn, wallet_id, -amount)
                _move(conn, MERCHANT, amount)
        trade_no = self._trade_no(conn)
        status: TradeStatus = "SUCCESS" if reason is None else "FAILED"
        conn.execute(
            insert(orders).values(
                order_no=order_no,
                kind="pay",
                request=json.dumps(request),
                wallet_id=wallet_id,
                trade_no=trade_no,
                status=status,
                amount_fen=amount,
                refunded_fen=0,
                reason=reason,
                at=now,
            )
        )
        trade = EcnyTrade("pay", order_no, status, amount, trade_no, reason, now)
        self._notify(conn, trade)
        return trade

    def _notify(self, conn: Connection, trade: EcnyTrade) -> None:
        assert trade.trade_no is not None and trade.at is not None
        assert trade.status in ("SUCCESS", "FAILED")
        notice = EcnyNotice(
            notify_id=f"N{_next(conn, 'notice'):012d}",
            kind=trade.kind,
            order_no=trade.order_no,
            trade_no=trade.trade_no,
            status="SUCCESS" if trade.status == "SUCCESS" else "FAILED",
            amount_fen=trade.amount_fen,
            reason=trade.reason,
            occurred_at=trade.at,
        )
        body = notice.to_body()
        held = _mode(conn, "late") > 0
        copies = 2 if _mode(conn, "duplicate") > 0 else 1
        for _ in range(copies):
            conn.execute(
                insert(outbox).values(
                    body=body, signature=sign_body(self.secret, body), held=held, attempts=0
                )
            )


def _wallet(conn: Connection, wallet_id: str) -> Any:
    return conn.execute(select(wallets).where(wallets.c.wallet_id == wallet_id)).first()


def _move(conn: Connection, wallet_id: str, amount: int) -> None:
    conn.execute(
        update(wallets)
        .where(wallets.c.wallet_id == wallet_id)
        .values(balance_fen=wallets.c.balance_fen + amount)
    )


def _next(conn: Connection, name: str) -> int:
    return int(
        conn.execute(
            update(counters)
            .where(counters.c.name == name)
            .values(value=counters.c.value + 1)
            .returning(counters.c.value)
        ).scalar_one()
    )


def _mode(conn: Connection, name: str) -> int:
    return int(conn.execute(select(modes.c.value).where(modes.c.name == name)).scalar_one())


def _take(conn: Connection, name: str) -> bool:
    """Use up one of a counted misbehaviour; True when there was one."""
    took = conn.execute(
        update(modes).where(modes.c.name == name, modes.c.value > 0).values(value=modes.c.value - 1)
    ).rowcount
    return bool(took)


def _trade(row: Any) -> EcnyTrade:
    return EcnyTrade(
        "pay" if row.kind == "pay" else "refund",
        str(row.order_no),
        row.status,
        int(row.amount_fen),
        row.trade_no,
        row.reason,
        row.at,
    )
