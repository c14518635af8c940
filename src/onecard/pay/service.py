"""Terminal payments: authenticate, decide, post, answer — and reverse or refund.

Contract:
- ``authenticate_terminal`` maps a device credential to a ``TerminalIdentity`` or raises
  ``TerminalUnauthorized`` / ``TerminalRevoked``.
- ``pay(ctx, terminal, request)`` is one transaction. ``(terminal, txn_id)`` is the
  idempotency key: the first decision — approved *or* refused — is stored with its exact
  response bytes, a retry with the same request gets those bytes back, the same id with
  a different request raises ``IdempotencyConflict``. An approval debits the payer's
  purses (in the canteen's purse order) and credits the canteen's payable in one
  balanced entry; a refusal changes no balance and writes only its decision record.
  Bad input (``InvalidInput`` and subclasses) is raised, never recorded.
- ``decide_and_record(conn, …)`` is the same work inside a caller's transaction, used by
  the batching path so many payments share one commit.
- ``reverse`` (same terminal, within the window) and ``refund`` (canteen manager, any
  time, partial allowed) post new entries; nothing is edited in the ledger.

Concurrency: the payer's purse rows are locked (``FOR UPDATE``) before the split is
computed, so two payments from one purse serialise on that person alone; the guarded
UPDATE is the backstop. No shared row (canteen, system account) is written by a payment.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.db import is_unavailable
from onecard.core.errors import (
    CardCancelled,
    CardLost,
    CodeInvalid,
    CodeReused,
    CodeRevoked,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    MalformedCredential,
    NotFound,
    PaymentNotConfirmed,
    PeriodLimitReached,
    PersonInactive,
    Refused,
    TerminalUnauthorized,
    UnknownCard,
)
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.ledger.models import Account, JournalEntry, Posting
from onecard.ledger.service import (
    Leg,
    account_id,
    guarded_change,
    lock_for_posting,
    period_for,
)
from onecard.org.builders import hash_device_key
from onecard.org.models import Canteen, Person, Terminal, Unit
from onecard.pay import paycode
from onecard.pay.models import Card, Payment
from onecard.pay.paycode_keys import is_retired
from onecard.pay.pricing import CanteenRules, diner_class, items_total, meal_price
from onecard.rollout.states import terminal_refusal


@dataclass(frozen=True)
class TerminalIdentity:
    id: int
    code: str
    region_id: int
    canteen_id: int


@dataclass(frozen=True)
class PaymentRequest:
    txn_id: str
    credential: str
    meal: str | None = None
    amount_fen: int | None = None
    items: tuple[tuple[str, int], ...] = ()

    def validate(self) -> None:
        if not self.txn_id or len(self.txn_id) > 64:
            raise InvalidInput("txn_id 必须为 1–64 个字符")
        chosen = sum([self.meal is not None, self.amount_fen is not None, bool(self.items)])
        if chosen != 1:
            raise InvalidInput("meal、amount_fen、items 三者必须且只能给出一个")
        if self.amount_fen is not None and (
            type(self.amount_fen) is not int or not 0 < self.amount_fen <= MAX_AMOUNT_FEN
        ):
            raise InvalidAmount()
        for sku, qty in self.items:
            if type(qty) is not int or not 0 < qty <= 999:
                raise InvalidInput(f"商品 {sku} 数量必须为 1–999 的整数")
        if not credential_shape_ok(self.credential):
            raise MalformedCredential()

    def fingerprint(self) -> str:
        body = json.dumps(
            [self.credential.strip(), self.meal, self.amount_fen, [list(i) for i in self.items]],
            separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()


CARD_NO_RE = re.compile(r"[0-9]{8,16}")


def credential_shape_ok(credential: str) -> bool:
    """A card number (8–16 ASCII digits) or a payment code (18 digits starting with 8,
    spaces allowed between groups). Anything else — 17 digits, letters, full-width or
    other Unicode digits — is malformed, refused before anything is looked up."""
    cred = credential.strip()
    return CARD_NO_RE.fullmatch(cred) is not None or paycode.looks_like_code(cred)


@dataclass
class PaymentOutcome:
    body: bytes
    approved: bool
    replayed: bool = False
    payment_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


# --- terminals -------------------------------------------------------------------------
def authenticate_terminal(ctx: Context, code: str, key: str) -> TerminalIdentity:
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                Terminal.id,
                Terminal.region_id,
                Terminal.canteen_id,
                Terminal.key_hash,
                Terminal.status,
            ).where(Terminal.code == code)
        ).first()
    import hmac

    if row is None or not hmac.compare_digest(str(row.key_hash), hash_device_key(key)):
        raise TerminalUnauthorized()
    if (refusal := terminal_refusal(str(row.status))) is not None:
        raise refusal  # pays only when live: revoked, or not yet live (rollout.states)
    return TerminalIdentity(int(row.id), code, int(row.region_id), int(row.canteen_id))


def canteen_rules(conn: Connection, canteen_id: int) -> CanteenRules:
    row = conn.execute(
        select(
            Canteen.id,
            Canteen.unit_id,
            Canteen.name,
            Canteen.serves_visitors,
            Canteen.serves_guests,
            Canteen.purse_order,
        ).where(Canteen.id == canteen_id)
    ).first()
    if row is None:
        raise NotFound(what="食堂")
    return CanteenRules(*row)


# --- paying ----------------------------------------------------------------------------
def pay(
    ctx: Context,
    terminal: TerminalIdentity,
    req: PaymentRequest,
    *,
    deadline: float | None = None,
) -> PaymentOutcome:
    """``deadline`` (``time.monotonic()``): past it the transaction is rolled back, not
    committed. A database that cannot do it now (or that bound) is ``PaymentNotConfirmed``:
    the caller may re-send the same request."""
    req.validate()
    try:
        with ctx.db.begin() as conn:
            outcome = decide_and_record(conn, ctx, terminal, req)
            if deadline is not None and time.monotonic() >= deadline:
                raise PaymentNotConfirmed()
    except DBAPIError as exc:
        if is_unavailable(exc):
            raise PaymentNotConfirmed() from exc
        raise
    return outcome


def replay(
    conn: Connection, terminal: TerminalIdentity, req: PaymentRequest
) -> PaymentOutcome | None:
    found = conn.execute(
        select(Payment.id, Payment.request_hash, Payment.response, Payment.status).where(
            Payment.terminal_id == terminal.id, Payment.txn_id == req.txn_id
        )
    ).first()
    if found is None:
        return None
    if found.request_hash != req.fingerprint():
        raise IdempotencyConflict()
    return PaymentOutcome(
        body=str(found.response).encode(),
        approved=found.status != "refused",
        replayed=True,
        payment_id=int(found.id),
    )


@dataclass
class _Payer:
    person_id: int
    name: str
    unit_id: int
    unit_name: str
    category: str
    status: str
    card_no: str | None = None
    code_step: int | None = None


def _resolve_payer(conn: Connection, ctx: Context, credential: str, now: datetime) -> _Payer:
    cred = credential.strip()
    person_q = select(
        Person.id,
        Person.name,
        Person.unit_id,
        Unit.name,
        Person.category,
        Person.status,
        Person.paycode_secret,
        Person.paycode_last_step,
    ).join(Unit, Unit.id == Person.unit_id)
    if paycode.looks_like_code(cred):
        parsed = paycode.parse_code(cred, ctx.settings.region_no)
        row = conn.execute(person_q.where(Person.paycode_token == parsed.token)).first()
        if row is None:
            # A token rotated away (phone lost): say so, so the diner refreshes the code.
            if is_retired(conn, parsed.token):
                raise CodeRevoked()
            raise CodeInvalid()
        step = paycode.match_step(
            str(row.paycode_secret),
            parsed.otp,
            now.timestamp() if now.tzinfo else _unix(now),
            int(row.paycode_last_step),
            ctx.settings.paycode_step_seconds,
        )
        return _Payer(
            int(row.id),
            row.name,
            int(row.unit_id),
            row[3],
            row.category,
            row.status,
            code_step=step,
        )
    card = conn.execute(select(Card.person_id, Card.status).where(Card.card_no == cred)).first()
    if card is None:
        raise UnknownCard()
    if card.status == "lost":
        raise CardLost()
    if card.status == "cancelled":
        raise CardCancelled()
    row = conn.execute(person_q.where(Person.id == card.person_id)).one()
    return _Payer(
        int(row.id), row.name, int(row.unit_id), row[3], row.category, row.status, card_no=cred
    )


def _unix(naive_utc: datetime) -> float:
    from datetime import UTC

    return naive_utc.replace(tzinfo=UTC).timestamp()


def split_purses(amount: int, subsidy: int, cash: int, order: str) -> tuple[int, int]:
    """(from subsidy, from cash) for ``amount``, first purse first; caller checks totals."""
    if order == "cash_first":
        from_cash = min(cash, amount)
        return amount - from_cash, from_cash
    from_subsidy = min(subsidy, amount)
    return from_subsidy, amount - from_subsidy


def decide_and_record(
    conn: Connection, ctx: Context, terminal: TerminalIdentity, req: PaymentRequest
) -> PaymentOutcome:
    """Decide one payment and write its record inside the caller's transaction."""
    prior = replay(conn, terminal, req)
    if prior is not None:
        return prior
    now = ctx.clock.now()
    local_now = to_local(now)
    canteen = canteen_rules(conn, terminal.canteen_id)
    payer: _Payer | None = None
    data: dict[str, Any] = {
        "txn_id": req.txn_id,
        "terminal": terminal.code,
        "canteen": canteen.name,
    }
    try:
        payer = _resolve_payer(conn, ctx, req.credential, now)
        data["payer"] = {"name": payer.name, "unit": payer.unit_name}
        if payer.status != "active":
            raise PersonInactive()
        klass = diner_class(payer.unit_id, payer.category, canteen)
        meal = None
        if req.meal is not None:
            meal = meal_price(conn, canteen.id, req.meal, klass, local_now)
            amount = meal.price_fen
        elif req.items:
            amount = items_total(conn, canteen.id, list(req.items))
        else:
            assert req.amount_fen is not None
            amount = req.amount_fen

        # Lock this payer's purses: everything below sees a stable balance.
        purses = {
            kind: (int(aid), int(bal))
            for aid, kind, bal in conn.execute(
                select(Account.id, Account.kind, Account.balance)
                .where(Account.owner_kind == "person", Account.owner_id == payer.person_id)
                .with_for_update()
            )
        }
        sub_id, sub_bal = purses["subsidy"]
        cash_id, cash_bal = purses["cash"]
        if meal is not None and meal.per_person_limit > 0:
            used = conn.execute(
                select(func.count())
                .select_from(Payment)
                .where(
                    Payment.person_id == payer.person_id,
                    Payment.business_date == local_now.date(),
                    Payment.meal_period_id == meal.meal_period_id,
                    Payment.status == "approved",
                )
            ).scalar_one()
            if used >= meal.per_person_limit:
                raise PeriodLimitReached(limit=meal.per_person_limit)
        if sub_bal + cash_bal < amount:
            data["balances"] = {"subsidy_fen": sub_bal, "cash_fen": cash_bal}
            raise InsufficientFunds()
        from_sub, from_cash = split_purses(amount, sub_bal, cash_bal, canteen.purse_order)

        if payer.code_step is not None:
            # Single use, race-free: only one payment can move the step forward.
            moved = conn.execute(
                update(Person)
                .where(Person.id == payer.person_id, Person.paycode_last_step < payer.code_step)
                .values(paycode_last_step=payer.code_step)
            ).rowcount
            if moved != 1:
                raise CodeReused()
    except Refused as refusal:
        data.update(
            result="refused",
            code=refusal.code,
            message=refusal.message(ctx.settings.language),
        )
        pid = _record(
            conn,
            ctx,
            terminal,
            req,
            data,
            status="refused",
            payer=payer,
            refusal=refusal.code,
            now=now,
            local_now=local_now,
        )
        return PaymentOutcome(body=dumps(data), approved=False, payment_id=pid, data=data)

    lock_for_posting(conn)
    legs = [Leg(account_id(conn, "canteen", canteen.id, "canteen_payable"), amount)]
    if from_sub:
        legs.append(Leg(sub_id, -from_sub))
    if from_cash:
        legs.append(Leg(cash_id, -from_cash))
    entry_id = _insert_entry(
        conn,
        region_id=terminal.region_id,
        kind="payment",
        key=f"pay:{terminal.id}:{req.txn_id}",
        period=period_for(conn, local_now.date()),
        now=now,
        actor=f"terminal:{terminal.code}",
        reference=f"{canteen.name}",
        legs=legs,
    )
    data.update(
        result="approved",
        amount_fen=amount,
        subsidy_fen=from_sub,
        cash_fen=from_cash,
        balances={"subsidy_fen": sub_bal - from_sub, "cash_fen": cash_bal - from_cash},
        meal=meal.code if meal else None,
        diner_class=klass,
        at=local_now.isoformat(timespec="seconds"),
    )
    pid = _record(
        conn,
        ctx,
        terminal,
        req,
        data,
        status="approved",
        payer=payer,
        now=now,
        local_now=local_now,
        amount=amount,
        from_sub=from_sub,
        from_cash=from_cash,
        entry_id=entry_id,
        meal_period_id=meal.meal_period_id if meal else None,
        klass=klass,
    )
    return PaymentOutcome(body=dumps(data), approved=True, payment_id=pid, data=data)


def _insert_entry(
    conn: Connection,
    *,
    region_id: int,
    kind: str,
    key: str,
    period: str,
    now: datetime,
    actor: str,
    reference: str,
    legs: list[Leg],
) -> int:
    """The payment path's posting: accounts are known and purses locked, so skip lookups."""
    entry_id = int(
        conn.execute(
            insert(JournalEntry)
            .values(
                region_id=region_id,
                kind=kind,
                idempotency_key=key,
                period=period,
                booked_at=now,
                occurred_at=now,
                actor=actor,
                reference=reference,
                memo="",
                legs=len(legs),
            )
            .returning(JournalEntry.id)
        ).scalar_one()
    )
    assert sum(leg.amount for leg in legs) == 0
    conn.execute(
        insert(Posting),
        [{"entry_id": entry_id, "account_id": lg.account_id, "amount": lg.amount} for lg in legs],
    )
    for lg in legs[1:]:
        guarded_change(conn, lg.account_id, lg.amount)
    return entry_id


def _record(
    conn: Connection,
    ctx: Context,
    terminal: TerminalIdentity,
    req: PaymentRequest,
    data: dict[str, Any],
    *,
    status: str,
    payer: _Payer | None,
    now: datetime,
    local_now: datetime,
    refusal: str | None = None,
    amount: int = 0,
    from_sub: int = 0,
    from_cash: int = 0,
    entry_id: int | None = None,
    meal_period_id: int | None = None,
    klass: str | None = None,
) -> int:
    pid = int(
        conn.execute(
            insert(Payment)
            .values(
                region_id=terminal.region_id,
                terminal_id=terminal.id,
                txn_id=req.txn_id,
                request_hash=req.fingerprint(),
                status=status,
                refusal_code=refusal,
                canteen_id=terminal.canteen_id,
                person_id=payer.person_id if payer else None,
                home_unit_id=payer.unit_id if payer else None,
                credential_kind="code"
                if paycode.looks_like_code(req.credential.strip())
                else "card",
                meal_period_id=meal_period_id,
                diner_class=klass,
                amount_fen=amount,
                subsidy_fen=from_sub,
                cash_fen=from_cash,
                entry_id=entry_id,
                business_date=local_now.date(),
                created_at=now,
                response="",
            )
            .returning(Payment.id)
        ).scalar_one()
    )
    data["payment_id"] = pid
    conn.execute(update(Payment).where(Payment.id == pid).values(response=dumps(data).decode()))
    return pid
