"""Terminal payments: authenticate, decide, post, answer — and reverse or refund.

Contract:
- ``authenticate_terminal`` maps a device credential to a ``TerminalIdentity`` or raises
  ``TerminalUnauthorized`` / ``TerminalRevoked`` / ``TerminalNotLive`` (pays only when live).
- ``pay(ctx, terminal, request)`` is one transaction. ``(terminal, txn_id)`` is the
  idempotency key: the first decision — approved *or* refused — is stored with its exact
  response bytes, a retry with the same request gets those bytes back, the same id with
  a different request raises ``IdempotencyConflict``. An approval debits the payer's
  purses (in the canteen's purse order) and credits the canteen's payable in one
  balanced entry; a refusal changes no balance and writes only its decision record.
  An approval priced from item lines stores them (``payment_lines``: item, qty, unit
  price, line total) in the same transaction, on every path (``_record``, ``pay.batch``).
  Bad input (``InvalidInput`` and subclasses) is raised, never recorded.
- ``decide_and_record(conn, …)`` is the same work inside a caller's transaction: read the
  facts (``read_facts``), decide (``pay.decide.decide``, the one decision core), write the
  entry through ``ledger.journal`` and the decision record. The batch (``pay.batch``)
  decides with the same core on facts it reads set-wise, and uses this for the payments
  it leaves (a retry of a transaction id inside one batch, a failed set-wise part).
- ``reverse`` (same terminal, within the window) and ``refund`` (canteen manager, any
  time, partial allowed) post new entries; nothing is edited in the ledger.

Concurrency: the payer's purse rows are locked (``FOR UPDATE``) before the decision, so
two payments from one purse serialise on that person alone; the guarded UPDATE (in the
ledger's writer) is the backstop. No shared row (canteen, system account) is written by a payment.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from onecard.catalogue.models import ShopRule
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.db import is_unavailable
from onecard.core.errors import (
    CodeReused,
    ForeignRegion,
    IdempotencyConflict,
    NotFound,
    PaymentNotConfirmed,
    TerminalUnauthorized,
)
from onecard.ledger import journal
from onecard.ledger.models import Account
from onecard.ledger.service import lock_for_posting, period_for
from onecard.org.builders import hash_device_key
from onecard.org.models import Canteen, Person, Terminal, Unit
from onecard.pay.decide import (
    CARD_NO_RE,
    CardFacts,
    CodeCredential,
    Credential,
    Decision,
    FaceCredential,
    Facts,
    Payer,
    PaymentRequest,
    Policy,
    Purses,
    TerminalIdentity,
    credential_shape_ok,
    decide,
    read_credential,
    refused_instead,
    split_purses,
)
from onecard.pay.interregion import (
    Cross,
    cross_of,
    current_fund_map,
    fund_map,
    read_terms,
    version_column,
)
from onecard.pay.models import Card, Payment, PaymentLine
from onecard.pay.paycode_keys import is_retired
from onecard.pay.pricing import CanteenRules, item_facts, meal_facts
from onecard.rollout.states import terminal_refusal

__all__ = [
    "CARD_NO_RE",
    "PaymentOutcome",
    "PaymentRequest",
    "TerminalIdentity",
    "authenticate_terminal",
    "credential_shape_ok",
    "decide_and_record",
    "dumps",
    "pay",
    "record_decision",
    "replay",
    "split_purses",
]


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
    if row is None or not hmac.compare_digest(str(row.key_hash), hash_device_key(key)):
        raise TerminalUnauthorized()
    if (refusal := terminal_refusal(str(row.status))) is not None:
        raise refusal  # pays only when live: revoked, or not yet live (rollout.states)
    return TerminalIdentity(int(row.id), code, int(row.region_id), int(row.canteen_id))


def canteen_rules(conn: Connection, canteen_id: int) -> CanteenRules:
    return canteen_facts(conn, canteen_id)[0]


def canteen_facts(conn: Connection, canteen_id: int) -> tuple[CanteenRules, int | None]:
    """The canteen's rules, and the fund-map version read with them (``pay.interregion``)."""
    row = conn.execute(
        select(
            Canteen.id,
            Canteen.unit_id,
            Canteen.name,
            Canteen.serves_visitors,
            Canteen.serves_guests,
            Canteen.purse_order,
            func.coalesce(ShopRule.goods_from_subsidy, False),
            Canteen.region_id,
            version_column(),
        )
        .outerjoin(ShopRule, ShopRule.unit_id == Canteen.unit_id)
        .where(Canteen.id == canteen_id)
    ).first()
    if row is None:
        raise NotFound(what="食堂")
    rules = CanteenRules(
        int(row[0]),
        int(row[1]),
        str(row[2]),
        bool(row[3]),
        bool(row[4]),
        str(row[5]),
        goods_from_subsidy=bool(row[6]),
        region_id=int(row[7]),
    )
    return rules, None if row[8] is None else int(row[8])


def cross_terms(
    conn: Connection, version: int | None, payer: Payer, canteen: CanteenRules
) -> Cross | None:
    """The agreements a payment of ``payer`` at ``canteen`` is decided under, when their
    fund regions differ (``Facts.cross``); None when they do not — and at once, without
    reading agreements, in a deployment of a single fund region."""
    fm = fund_map(conn, version)
    if fm.single:
        return None
    home, host = fm.fund_of.get(payer.region_id), fm.fund_of.get(canteen.region_id)
    if home is None or host is None or home == host:
        return None
    return cross_of(fm, home, host, read_terms(conn, home, host))


def credential_of(conn: Connection, credential: str, region_no: str) -> Credential:
    """``read_credential``; a code of another network is looked for among this
    deployment's networks (a province's cities) before it is refused as foreign."""
    try:
        return read_credential(credential, region_no)
    except ForeignRegion:
        return read_credential(credential, region_no, current_fund_map(conn).networks)


# --- paying ----------------------------------------------------------------------------
# What a caller records with a new decision record, in its transaction (``pay``'s ``also``).
AfterRecord = Callable[[Connection, PaymentOutcome], None]


def pay(
    ctx: Context,
    terminal: TerminalIdentity,
    req: PaymentRequest,
    *,
    deadline: float | None = None,
    cred: Credential | None = None,
    also: AfterRecord | None = None,
) -> PaymentOutcome:
    """``deadline`` (``time.monotonic()``): past it the transaction is rolled back, not
    committed. A database that cannot do it now (or that bound) is ``PaymentNotConfirmed``:
    the caller may re-send the same request. ``cred``: the credential when the channel
    resolved it already (face pay), else read from ``req.credential``. ``also``: what
    the caller records with a new decision record (approved or refused), in its
    transaction — never on a replay (the browser till's cashier)."""
    req.validate()
    try:
        with ctx.db.begin() as conn:
            outcome = decide_and_record(conn, ctx, terminal, req, cred)
            if also is not None and not outcome.replayed and outcome.payment_id is not None:
                also(conn, outcome)
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


def read_facts(
    conn: Connection,
    terminal: TerminalIdentity,
    req: PaymentRequest,
    cred: Credential,
    now: datetime,
) -> Facts:
    """What ``decide`` needs for one payment. The payer's purses are locked (``FOR
    UPDATE``): everything after sees a stable balance until the COMMIT."""
    canteen, version = canteen_facts(conn, terminal.canteen_id)
    payable = conn.execute(
        select(Account.id).where(
            Account.owner_kind == "canteen",
            Account.owner_id == canteen.id,
            Account.kind == "canteen_payable",
        )
    ).scalar()
    person_q = select(
        Person.id,
        Person.name,
        Person.unit_id,
        Unit.name,
        Person.category,
        Person.status,
        Person.paycode_secret,
        Person.paycode_last_step,
        Person.region_id,
    ).join(Unit, Unit.id == Person.unit_id)
    card: CardFacts | None = None
    retired = False
    if isinstance(cred, CodeCredential):
        row = conn.execute(person_q.where(Person.paycode_token == cred.token)).first()
        retired = row is None and is_retired(conn, cred.token)
    elif isinstance(cred, FaceCredential):
        found_id = cred.person_id if cred.live else None
        row = (
            None
            if found_id is None
            else conn.execute(person_q.where(Person.id == found_id)).first()
        )
    else:
        found = conn.execute(
            select(Card.person_id, Card.status).where(Card.card_no == cred.card_no)
        ).first()
        row = None
        if found is not None:
            card = CardFacts(int(found.person_id), str(found.status))
            if card.status == "active":
                row = conn.execute(person_q.where(Person.id == card.person_id)).one()
    if row is None:
        return Facts(now, canteen, payable, card=card, code_retired=retired)
    payer = Payer(
        int(row[0]),
        str(row[1]),
        int(row[2]),
        str(row[3]),
        str(row[4]),
        str(row[5]),
        str(row[6]),
        int(row[7]),
        int(row[8]),
    )
    purses = {
        str(kind): (int(aid), int(bal))
        for aid, kind, bal in conn.execute(
            select(Account.id, Account.kind, Account.balance)
            .where(Account.owner_kind == "person", Account.owner_id == payer.id)
            .with_for_update()
        )
    }
    meal = meal_facts(conn, canteen.id, req.meal) if req.meal is not None else None
    had = 0
    if meal is not None and meal.per_person_limit > 0:
        had = conn.execute(
            select(func.count())
            .select_from(Payment)
            .where(
                Payment.person_id == payer.id,
                Payment.business_date == to_local(now).date(),
                Payment.meal_period_id == meal.period_id,
                Payment.status == "approved",
            )
        ).scalar_one()
    prices, goods, item_ids = (
        item_facts(conn, canteen.id, [s for s, _ in req.items])
        if req.items
        else ({}, frozenset(), {})
    )
    return Facts(
        now,
        canteen,
        payable,
        card=card,
        payer=payer,
        purses=Purses(*purses["subsidy"], *purses["cash"]),
        meal=meal,
        item_prices=prices,
        goods_skus=goods,
        item_ids=item_ids,
        meals_had=int(had),
        cross=cross_terms(conn, version, payer, canteen),
    )


def decide_and_record(
    conn: Connection,
    ctx: Context,
    terminal: TerminalIdentity,
    req: PaymentRequest,
    cred: Credential | None = None,
    *,
    agreed: Mapping[str, int] | None = None,
) -> PaymentOutcome:
    """Decide one payment and write its record inside the caller's transaction: read the
    facts, ``pay.decide.decide``, write through the ledger's writer. ``agreed`` (sku →
    fen): unit prices the diner already agreed to for items still on sale — a pre-order
    is charged what it was ordered at, not today's catalogue price (``menus.service``);
    an item no longer on sale is refused as always. Never from a terminal's request."""
    prior = replay(conn, terminal, req)
    if prior is not None:
        return prior
    now = ctx.clock.now()
    if cred is None:
        cred = credential_of(conn, req.credential, ctx.settings.region_no)
    facts = read_facts(conn, terminal, req, cred, now)
    if agreed:
        on_sale = facts.item_prices
        kept = {sku: int(fen) for sku, fen in agreed.items() if sku in on_sale}
        facts = replace(facts, item_prices={**on_sale, **kept})
    policy = Policy(ctx.settings.language, ctx.settings.paycode_step_seconds)
    d = decide(terminal, req, cred, facts, policy)
    if d.approved and d.code_step is not None and d.payer is not None:
        # Single use, race-free: only one payment can move the step forward.
        moved = conn.execute(
            update(Person)
            .where(Person.id == d.payer.id, Person.paycode_last_step < d.code_step)
            .values(paycode_last_step=d.code_step)
        ).rowcount
        if moved != 1:
            d = refused_instead(d, CodeReused(), policy.language)
    local_now = to_local(now)
    entry_id = None
    if d.approved:
        lock_for_posting(conn)
        written = journal.write(
            conn,
            journal.check([d.entry(terminal, req.txn_id)]),
            journal.Header(period_for(conn, local_now.date(), terminal.region_id), "", now),
            purses={a: False for a in d.purse_ids()},
        )
        entry_id = next(iter(written.values()))
    pid = _record(conn, terminal, req, d, now=now, local_now=local_now, entry_id=entry_id)
    return PaymentOutcome(body=dumps(d.data), approved=d.approved, payment_id=pid, data=d.data)


def _record(
    conn: Connection,
    terminal: TerminalIdentity,
    req: PaymentRequest,
    d: Decision,
    *,
    now: datetime,
    local_now: datetime,
    entry_id: int | None,
) -> int:
    pid = int(
        conn.execute(
            insert(Payment)
            .values(
                region_id=terminal.region_id,
                terminal_id=terminal.id,
                txn_id=req.txn_id,
                request_hash=req.fingerprint(),
                status="approved" if d.approved else "refused",
                refusal_code=d.refusal,
                canteen_id=terminal.canteen_id,
                person_id=d.payer.id if d.payer else None,
                home_unit_id=d.payer.unit_id if d.payer else None,
                credential_kind=req.credential_kind,
                meal_period_id=d.meal_period_id,
                diner_class=d.klass,
                amount_fen=d.amount,
                subsidy_fen=d.from_sub,
                cash_fen=d.from_cash,
                entry_id=entry_id,
                business_date=local_now.date(),
                created_at=now,
                response="",
            )
            .returning(Payment.id)
        ).scalar_one()
    )
    d.data["payment_id"] = pid
    conn.execute(update(Payment).where(Payment.id == pid).values(response=dumps(d.data).decode()))
    if d.approved and d.lines:
        conn.execute(insert(PaymentLine), line_rows(pid, d))
    return pid


def line_rows(payment_id: int, d: Decision) -> list[dict[str, int]]:
    """An approval's item lines as ``payment_lines`` rows (numbered from 1, as sent)."""
    return [
        {
            "payment_id": payment_id,
            "line_no": n,
            "item_id": item_id,
            "qty": qty,
            "unit_price_fen": unit,
            "line_fen": line,
        }
        for n, (item_id, qty, unit, line) in enumerate(d.lines, start=1)
    ]


# An offline record's payment (``terminals.service``) is recorded as any other decision.
record_decision = _record
