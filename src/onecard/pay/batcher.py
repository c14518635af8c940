"""Group commit for terminal payments (PostgreSQL): many payments, one COMMIT.

Contract:
- ``PaymentBatcher(ctx).start()`` opens ``workers`` dedicated connections, one thread
  each. ``await batcher.pay(terminal, req)`` (or ``batcher.submit(...)`` from a thread)
  validates the request at once (``InvalidInput`` is raised to the caller, never queued),
  then hands it to a worker and returns the same ``PaymentOutcome`` — or raises the same
  exception — that ``service.pay`` would.
- A worker (one by default) takes the first waiting request, keeps collecting for
  ``batch_window_ms`` or until ``batch_max`` requests, and runs them in ONE transaction
  on its connection: the plain card and payment-code payments through the set-based
  path (``decide_batch``, below: a few statements per batch instead of ~14 per payment,
  same answers byte for byte), the rest each inside its own SAVEPOINT calling
  ``service.decide_and_record`` — among them a code whose token is no one's current
  one (a rotated secret's, refused as ``code_revoked``, or a made-up one). A refusal is an
  ordinary outcome (its decision record is kept); an exception in one payment rolls back
  only that payment's savepoint and goes to that request alone. One COMMIT for the batch,
  then every caller is answered: nobody hears "approved" before the commit is durable.
- Every payer's purses are locked (``FOR UPDATE``) and changed by a guarded UPDATE (the
  database refuses a negative purse), and payments from one purse in one batch see each
  other's debits in arrival order: exactly the affordable ones pass.
- Lock order: a batch holds its purse locks until its COMMIT. Requests are routed to a
  worker by their credential (card number, or the person token inside a payment code), so
  one payer's concurrent payments queue on one worker and two batches rarely lock the
  same purses. When they do (a person paying by card and by code at once), PostgreSQL's
  deadlock detector aborts one statement; that payment's savepoint is rolled back and it
  is retried on its own after the batch commits — as is a payment that hit a unique
  violation (the same terminal transaction id racing in two batches) or any payment of a
  batch whose COMMIT failed.
- ``stop()`` answers what is still queued with ``BatcherStopped`` and closes the
  connections. ``lifespan(ctx)`` is the FastAPI lifespan that starts a batcher when
  ``settings.batch_payments`` is on and the database is PostgreSQL (SQLite keeps the
  one-transaction-per-payment path) and stops it on shutdown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import queue
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from onecard.core.clock import next_quarter, quarter_of, to_local
from onecard.core.context import Context
from onecard.core.errors import (
    CardCancelled,
    CardLost,
    IdempotencyConflict,
    InsufficientFunds,
    NoPrice,
    NotFound,
    OneCardError,
    OutsideMealPeriod,
    PeriodLimitReached,
    PersonInactive,
    Refused,
    UnknownCard,
)
from onecard.ledger.service import int_array, text_array
from onecard.pay import paycode
from onecard.pay.pricing import CanteenRules, diner_class
from onecard.pay.service import (
    PaymentOutcome,
    PaymentRequest,
    TerminalIdentity,
    decide_and_record,
    dumps,
    split_purses,
)
from onecard.pay.terminal_keys import TerminalKeys, confirm

log = logging.getLogger(__name__)

# SQLSTATEs worth a retry on a fresh transaction: serialization_failure, deadlock_detected,
# lock_not_available; unique_violation (a racing duplicate becomes a replay or a 409).
RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03", "23505"})
SOLO_ATTEMPTS = 3


class BatcherStopped(OneCardError):
    code = "service_stopping"
    zh = "服务正在停止，请重试"
    en = "The service is stopping; please retry"


@dataclass
class BatchStats:
    batches: int = 0
    payments: int = 0
    retried: int = 0
    set_based: int = 0  # payments decided by the set-based path
    largest: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)

    def note(self, size: int, retried: int) -> None:
        self.batches += 1
        self.payments += size
        self.retried += retried
        self.largest = max(self.largest, size)
        bucket = 1 << max(0, size - 1).bit_length()
        self.batch_sizes[bucket] = self.batch_sizes.get(bucket, 0) + 1


Result = PaymentOutcome | BaseException


@dataclass
class _Item:
    terminal: TerminalIdentity
    req: PaymentRequest
    # Exactly one of these is set: an asyncio future (with its loop) or a thread future.
    loop: asyncio.AbstractEventLoop | None = None
    afut: asyncio.Future[PaymentOutcome] | None = None
    cfut: concurrent.futures.Future[PaymentOutcome] | None = None
    # The hash of the key the terminal presented, when it was recognised from memory
    # (``TerminalKeys``): the batch confirms it in its transaction. None: checked already.
    key_hash: str | None = None


_STOP = object()


def route_key(credential: str) -> int:
    """Same payer → same worker: the card number, or the person token of a code."""
    cred = credential.strip().replace(" ", "")
    if paycode.looks_like_code(cred):
        cred = cred[4:12]
    return zlib.crc32(cred.encode())


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and _sqlstate(exc) in RETRY_SQLSTATES


class PaymentBatcher:
    def __init__(
        self,
        ctx: Context,
        *,
        workers: int | None = None,
        window_ms: float | None = None,
        batch_max: int | None = None,
        set_based: bool = True,
    ) -> None:
        if not ctx.db.is_postgres:
            raise ValueError("payment batching needs PostgreSQL")
        self.ctx = ctx
        # One worker by default: while it commits, the next batch gathers (measured: one
        # worker with ~30-payment batches beats three with ~8; no cross-batch deadlocks).
        self.workers = workers or ctx.settings.batch_workers
        self.window = (ctx.settings.batch_window_ms if window_ms is None else window_ms) / 1000.0
        self.batch_max = max(1, batch_max or ctx.settings.batch_max)
        self.set_based = set_based
        self.stats = BatchStats()
        self.terminals = TerminalKeys(ctx)
        self._queues: list[queue.SimpleQueue[Any]] = []
        self._threads: list[threading.Thread] = []
        self._running = False
        self._lock = threading.Lock()

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> PaymentBatcher:
        if self._running:
            return self
        self._running = True
        self.terminals.warm()
        for n in range(self.workers):
            q: queue.SimpleQueue[Any] = queue.SimpleQueue()
            conn = self.ctx.db.engine.connect()
            t = threading.Thread(
                target=self._work, args=(q, conn), name=f"pay-batcher-{n}", daemon=True
            )
            self._queues.append(q)
            self._threads.append(t)
            t.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if not self._running:
            return
        self._running = False
        for q in self._queues:
            q.put(_STOP)
        for t in self._threads:
            t.join(timeout)
        # Whatever arrived after the stop marker is answered, not dropped.
        for q in self._queues:
            left: list[_Item] = []
            while True:
                try:
                    it = q.get_nowait()
                except queue.Empty:
                    break
                if isinstance(it, _Item):
                    left.append(it)
            _resolve(left, [BatcherStopped() for _ in left])
        self._queues.clear()
        self._threads.clear()

    # --- submitting ------------------------------------------------------------------------
    async def pay(
        self, terminal: TerminalIdentity, req: PaymentRequest, *, key_hash: str | None = None
    ) -> PaymentOutcome:
        req.validate()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PaymentOutcome] = loop.create_future()
        self._enqueue(_Item(terminal, req, loop=loop, afut=fut, key_hash=key_hash))
        return await fut

    def submit(
        self, terminal: TerminalIdentity, req: PaymentRequest, *, key_hash: str | None = None
    ) -> concurrent.futures.Future[PaymentOutcome]:
        req.validate()
        fut: concurrent.futures.Future[PaymentOutcome] = concurrent.futures.Future()
        self._enqueue(_Item(terminal, req, cfut=fut, key_hash=key_hash))
        return fut

    def _enqueue(self, item: _Item) -> None:
        if not self._running:
            raise BatcherStopped()
        self._queues[route_key(item.req.credential) % len(self._queues)].put(item)

    # --- the worker ------------------------------------------------------------------------
    def _work(self, q: queue.SimpleQueue[Any], conn: Connection) -> None:
        try:
            while True:
                first = q.get()
                if first is _STOP:
                    return
                items: list[_Item] = [first]
                stop = self._collect(q, items)
                conn = self._ensure(conn)
                results = self._run_batch(conn, items)
                _resolve(items, results)
                if stop:
                    return
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _collect(self, q: queue.SimpleQueue[Any], items: list[_Item]) -> bool:
        """Add what arrives within the window (up to batch_max); True if told to stop."""
        deadline = time.monotonic() + self.window
        while len(items) < self.batch_max:
            try:
                it = q.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    it = q.get(timeout=remaining)
                except queue.Empty:
                    break
            if it is _STOP:
                return True
            items.append(it)
        return False

    def _ensure(self, conn: Connection) -> Connection:
        if conn.closed or conn.invalidated:
            with contextlib.suppress(Exception):
                conn.close()
            return self.ctx.db.engine.connect()
        return conn

    def _run_batch(self, conn: Connection, items: list[_Item]) -> list[Result | None]:
        results: list[Result | None] = [None] * len(items)
        solo: list[int] = []
        try:
            with conn.begin():
                # Terminals recognised from memory are confirmed here, in the payments'
                # own transaction: a revoked one is refused, whatever was remembered.
                denied = confirm(conn, [(it.terminal.id, it.key_hash) for it in items])
                live = [i for i, d in enumerate(denied) if d is None]
                for i, d in enumerate(denied):
                    if d is not None:
                        results[i] = d
                if self.set_based and live:
                    try:
                        with conn.begin_nested():
                            decided = decide_batch(conn, self.ctx, [items[i] for i in live])
                        for i, r in zip(live, decided, strict=True):
                            results[i] = r
                        with self._lock:
                            self.stats.set_based += sum(r is not None for r in decided)
                    except Exception as exc:  # nothing of it was kept: one by one below
                        log.warning("set-based batch of %d failed (%s)", len(live), exc)
                        for i in live:
                            results[i] = None
                for i in live:
                    if results[i] is not None:
                        continue
                    it = items[i]
                    try:
                        with conn.begin_nested():
                            results[i] = decide_and_record(conn, self.ctx, it.terminal, it.req)
                    except Exception as exc:
                        if _retryable(exc):
                            solo.append(i)
                        else:
                            results[i] = exc
        except Exception as exc:  # the COMMIT (or the connection) failed: nothing was kept
            log.warning(
                "payment batch of %d failed to commit (%s); retrying one by one", len(items), exc
            )
            results = [None] * len(items)
            solo = list(range(len(items)))
            conn = self._ensure(conn)
        for i in solo:
            results[i] = self._run_solo(conn, items[i])
        with self._lock:
            self.stats.note(len(items), len(solo))
        return results

    def _run_solo(self, conn: Connection, it: _Item) -> Result:
        """One payment in its own transaction (the path SQLite always takes)."""
        for attempt in range(SOLO_ATTEMPTS):
            try:
                with conn.begin():
                    denied = confirm(conn, [(it.terminal.id, it.key_hash)])[0]
                    if denied is not None:
                        return denied
                    return decide_and_record(conn, self.ctx, it.terminal, it.req)
            except Exception as exc:
                if not _retryable(exc) or attempt == SOLO_ATTEMPTS - 1:
                    return exc
                conn = self._ensure(conn)
        raise AssertionError("unreachable")


def _resolve(items: list[_Item], results: list[Result | None] | list[BatcherStopped]) -> None:
    """Answer every caller; asyncio callers of one loop are woken with one call."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Result]]] = {}
    for it, res in zip(items, results, strict=True):
        r: Result = res if res is not None else RuntimeError("payment was not processed")
        if it.cfut is not None:
            if isinstance(r, BaseException):
                it.cfut.set_exception(r)
            else:
                it.cfut.set_result(r)
        elif it.afut is not None and it.loop is not None:
            by_loop.setdefault(it.loop, []).append((it.afut, r))
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_set_all, pairs)


def _set_all(pairs: list[tuple[asyncio.Future[Any], Result]]) -> None:
    for fut, r in pairs:
        if fut.done():
            continue
        if isinstance(r, BaseException):
            fut.set_exception(r)
        else:
            fut.set_result(r)


def enabled(ctx: Context) -> bool:
    return bool(ctx.settings.batch_payments) and ctx.db.is_postgres


def lifespan(ctx: Context) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan: a batcher on ``ctx`` while the app runs (when enabled)."""

    @contextlib.asynccontextmanager
    async def run(_app: Any) -> AsyncIterator[None]:
        batcher: PaymentBatcher | None = None
        if enabled(ctx) and ctx.payment_batcher is None:
            batcher = PaymentBatcher(ctx).start()
            ctx.payment_batcher = batcher
        try:
            yield
        finally:
            if batcher is not None:
                ctx.payment_batcher = None
                await asyncio.get_running_loop().run_in_executor(None, batcher.stop)

    return run


# --- the set-based path -------------------------------------------------------------------
# A batch's card and payment-code payments (a meal or an open amount) are decided with a
# handful of set-based statements instead of ~14 per payment, sent in TWO round trips
# (psycopg pipeline mode): first every read — stored decisions, canteens, cards, payers
# (payment-code payers' rows locked), meal prices, every payer's purses locked in id
# order and today's meal counts read under that lock, the period and the ids to use —
# then, after every payment is decided in arrival order in Python exactly as
# ``service.decide_and_record`` would (each one seeing the debits, meal counts and code
# steps of those before it), every write: code steps, entries, postings, purse balances
# (guarded UPDATE: a purse can never go below zero) and decision records. Round trips,
# not statements, were a batch's cost: on a busy two-core machine each one waits for the
# scheduler (measured ~22 per batch at ~1.7 ms each before). Anything else (item lines, a
# transaction id seen twice in one batch, a canteen without its account) goes through
# ``decide_and_record`` afterwards in the same transaction.

# The payers of a batch, found in the database from its credentials (no round trip to
# learn them first): active cards' holders and the people behind the payment codes.
_PAYERS = (
    "SELECT person_id FROM cards WHERE card_no = ANY(%(nos)s::text[]) AND status = 'active'"
    " UNION SELECT id FROM people WHERE paycode_token = ANY(%(tokens)s::text[])"
)
# LATERAL lookups fenced by LIMIT/OFFSET (else PostgreSQL flattens them back into a
# join): one index probe per key whatever the statistics say. A hash join over a seq
# scan of ``payments`` was chosen while the day's payments were filling it, a cost that
# grew with every payment of the lunch.
_SEEN = (
    "SELECT s.terminal_id, s.txn_id, s.id, s.request_hash, s.response, s.status"
    " FROM json_to_recordset(%(keys)s::json) AS v(t bigint, x text),"
    " LATERAL (SELECT * FROM payments WHERE terminal_id = v.t AND txn_id = v.x LIMIT 1) s"
)
_CANTEENS = (
    "SELECT c.id, c.unit_id, c.name, c.serves_visitors, c.serves_guests, c.purse_order, a.id"
    " FROM canteens c LEFT JOIN LATERAL (SELECT id FROM accounts WHERE owner_kind = 'canteen'"
    " AND owner_id = c.id AND kind = 'canteen_payable' LIMIT 1) a ON true"
    " WHERE c.id = ANY(%(canteens)s::bigint[])"
)
_CARDS = "SELECT card_no, person_id, status FROM cards WHERE card_no = ANY(%(nos)s::text[])"
_PEOPLE_COLUMNS = (
    "SELECT p.id, p.name, p.unit_id, u.name, p.category, p.status, p.paycode_token,"
    " p.paycode_secret, p.paycode_last_step FROM people p JOIN units u ON u.id = p.unit_id"
)
# Code payers' rows are locked (their step moves); card payers' are only read.
_CODE_PEOPLE = (
    f"{_PEOPLE_COLUMNS} WHERE p.paycode_token = ANY(%(tokens)s::text[]) ORDER BY p.id"
    " FOR UPDATE OF p"
)
_CARD_PEOPLE = (
    f"{_PEOPLE_COLUMNS} WHERE p.id IN (SELECT person_id FROM cards"
    " WHERE card_no = ANY(%(nos)s::text[]) AND status = 'active')"
)
_MEALS = (
    "SELECT m.canteen_id, m.code, m.id, m.name, m.starts, m.ends, m.per_person_limit,"
    " p.diner_class, p.price_fen FROM meal_periods m LEFT JOIN LATERAL"
    " (SELECT diner_class, price_fen FROM meal_prices WHERE meal_period_id = m.id OFFSET 0)"
    " p ON true"
    " WHERE m.canteen_id = ANY(%(canteens)s::bigint[])"
)
_PURSES = (
    "SELECT id, owner_id, kind, balance FROM accounts WHERE owner_kind = 'person'"
    f" AND owner_id IN ({_PAYERS}) ORDER BY id FOR UPDATE"
)
# Per payer, fenced too: sampled during a rush, the plain join was the statement the
# batch's connection spent most of its time in (a plan over the whole day's payments,
# chosen while the table was still new to the planner), PostgreSQL at ~0.8 core even at
# 100 payments/s.
_MEAL_COUNTS = (
    "WITH mp AS MATERIALIZED (SELECT id FROM meal_periods"
    " WHERE canteen_id = ANY(%(canteens)s::bigint[]))"
    f" SELECT c.person_id, m.meal_period_id, m.n FROM ({_PAYERS}) AS c(person_id)"
    " CROSS JOIN LATERAL (SELECT meal_period_id, count(*) AS n FROM payments"
    " WHERE person_id = c.person_id AND business_date = %(day)s AND status = 'approved'"
    " AND meal_period_id IN (SELECT id FROM mp) GROUP BY meal_period_id OFFSET 0) m"
)
# ``ledger.service.lock_for_posting`` and ``period_for``: the entry table's ROW EXCLUSIVE
# lock first (a period being closed waits for this batch, or this batch for it), then
# the last closed quarter.
_LOCK_ENTRIES = "LOCK TABLE journal_entries IN ROW EXCLUSIVE MODE"
_LAST_CLOSED = "SELECT max(code) FROM ledger_periods"
_IDS = (
    "SELECT nextval(pg_get_serial_sequence('journal_entries', 'id')),"
    " nextval(pg_get_serial_sequence('payments', 'id')) FROM generate_series(1, %(n)s)"
)
_STEPS = (
    "UPDATE people p SET paycode_last_step = v.step"
    " FROM unnest(%(ids)s::bigint[], %(steps)s::bigint[]) AS v(id, step)"
    " WHERE p.id = v.id AND p.paycode_last_step < v.step"
)
_ENTRIES = (
    "INSERT INTO journal_entries (id, region_id, kind, idempotency_key, period, booked_at,"
    " occurred_at, actor, reference, memo, legs)"
    " SELECT id, region_id, 'payment', key, %(period)s, %(now)s, %(now)s, actor, reference,"
    " '', legs FROM json_to_recordset(%(rows)s::json)"
    " AS v(id bigint, region_id bigint, key text, actor text, reference text, legs int)"
)
_POSTINGS = (
    "INSERT INTO postings (entry_id, account_id, amount)"
    " SELECT * FROM unnest(%(e)s::bigint[], %(a)s::bigint[], %(m)s::bigint[])"
)
_BALANCES = (
    "UPDATE accounts a SET balance = a.balance + v.d"
    " FROM unnest(%(ids)s::bigint[], %(ds)s::bigint[]) AS v(id, d)"
    " WHERE a.id = v.id AND a.balance + v.d >= 0"
)
_PAYMENTS = (
    "INSERT INTO payments (id, region_id, terminal_id, txn_id, request_hash, status,"
    " refusal_code, canteen_id, person_id, home_unit_id, credential_kind, meal_period_id,"
    " diner_class, amount_fen, subsidy_fen, cash_fen, refunded_fen, refunded_subsidy_fen,"
    " entry_id, business_date, created_at, response)"
    " SELECT id, region_id, terminal_id, txn_id, request_hash, status, refusal_code,"
    " canteen_id, person_id, home_unit_id, credential_kind, meal_period_id, diner_class,"
    " amount_fen, subsidy_fen, cash_fen, 0, 0, entry_id, %(day)s, %(now)s, response"
    " FROM json_to_recordset(%(rows)s::json) AS v(id bigint, region_id bigint,"
    " terminal_id bigint, txn_id text, request_hash text, status text, refusal_code text,"
    " canteen_id bigint, person_id bigint, home_unit_id bigint, credential_kind text,"
    " meal_period_id bigint, diner_class text, amount_fen bigint, subsidy_fen bigint,"
    " cash_fen bigint, entry_id bigint, response text)"
)


def _json(rows: list[dict[str, Any]]) -> str:
    """Rows for ``json_to_recordset``: one string parameter (psycopg's element-by-element
    list dumper was ~15 % of the server's CPU per payment; see also ``int_array``)."""
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def _pipelined(
    conn: Connection, statements: list[tuple[str, dict[str, Any]]]
) -> list[psycopg.Cursor[Any]]:
    """Send ``statements`` in one round trip (in order, in the caller's transaction) and
    return their cursors, results ready. The first failure raises (the rest are skipped
    by PostgreSQL), and the caller's savepoint rolls the whole batch's part back."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    cursors = []
    with raw.pipeline():
        for sql, params in statements:
            cur = raw.cursor()
            cur.execute(sql, params)
            cursors.append(cur)
    return cursors


@dataclass
class _Person:
    id: int
    name: str
    unit_id: int
    unit_name: str
    category: str
    status: str
    token: str
    secret: str
    last_step: int


@dataclass
class _Decision:
    """One payment of the set-based path, as ``decide_and_record`` would write it."""

    item: _Item
    data: dict[str, Any]
    status: str = "refused"
    refusal: str | None = None
    person: _Person | None = None
    amount: int = 0
    from_sub: int = 0
    from_cash: int = 0
    meal_period_id: int | None = None
    klass: str | None = None
    legs: list[tuple[int, int]] = field(default_factory=list)
    entry_id: int | None = None
    code_step: int | None = None


def _fast_eligible(it: _Item) -> bool:
    return not it.req.items


def decide_batch(conn: Connection, ctx: Context, items: list[_Item]) -> list[Result | None]:
    """Decide the batch's plain payments set-wise inside the caller's transaction.

    Returns one entry per item: an outcome, an exception for that caller, or ``None``
    for an item left to ``decide_and_record`` (to be run after this, same transaction).
    """
    results: list[Result | None] = [None] * len(items)
    now = ctx.clock.now()
    local_now = to_local(now)
    day = local_now.date()
    at_unix = now.replace(tzinfo=UTC).timestamp()
    lang = ctx.settings.language

    # Which items this path takes: the first of each (terminal, txn id) in the batch.
    todo: list[int] = []
    seen_keys: set[tuple[int, str]] = set()
    for i, it in enumerate(items):
        key = (it.terminal.id, it.req.txn_id)
        if _fast_eligible(it) and key not in seen_keys:
            todo.append(i)
        seen_keys.add(key)
    if not todo:
        return results

    # Credentials: cards by number; payment codes parsed now. A malformed code is the
    # caller's error — once it is known not to be a retry (below).
    cred: dict[int, tuple[str, str]] = {}  # item → ("card", card_no) | ("code", token)
    parsed: dict[int, paycode.ParsedCode] = {}
    malformed: dict[int, OneCardError] = {}
    for i in todo:
        c = items[i].req.credential.strip()
        if paycode.looks_like_code(c):
            try:
                parsed[i] = paycode.parse_code(c, ctx.settings.region_no)
            except OneCardError as exc:
                malformed[i] = exc
                continue
            cred[i] = ("code", parsed[i].token)
        else:
            cred[i] = ("card", c)

    # Round trip 1: everything the decisions read, the locks they need, ids and period.
    nos = sorted({v for k, v in cred.values() if k == "card"})
    tokens = sorted({v for k, v in cred.values() if k == "code"})
    canteen_ids = sorted({items[i].terminal.canteen_id for i in todo})
    keyed: dict[str, Any] = {
        "nos": text_array(nos),
        "tokens": text_array(tokens),
        "canteens": int_array(canteen_ids),
        "day": day,
    }
    (
        seen_cur,
        canteen_cur,
        card_cur,
        code_people_cur,
        card_people_cur,
        meal_cur,
        purse_cur,
        count_cur,
        _lock,
        closed_cur,
        id_cur,
    ) = _pipelined(
        conn,
        [
            (
                _SEEN,
                {
                    "keys": _json(
                        [{"t": items[i].terminal.id, "x": items[i].req.txn_id} for i in todo]
                    )
                },
            ),
            (_CANTEENS, keyed),
            (_CARDS, keyed),
            (_CODE_PEOPLE, keyed),
            (_CARD_PEOPLE, keyed),
            (_MEALS, keyed),
            (_PURSES, keyed),
            (_MEAL_COUNTS, keyed),
            (_LOCK_ENTRIES, {}),
            (_LAST_CLOSED, {}),
            (_IDS, {"n": len(todo)}),
        ],
    )

    # Stored decisions (a retry is answered with the first answer's bytes).
    stored = {(int(r[0]), str(r[1])): r for r in seen_cur.fetchall()}
    fresh: list[int] = []
    for i in todo:
        it = items[i]
        found = stored.get((it.terminal.id, it.req.txn_id))
        if found is None:
            if i in malformed:
                results[i] = malformed[i]
            else:
                fresh.append(i)
        elif found[3] != it.req.fingerprint():
            results[i] = IdempotencyConflict()
        else:
            results[i] = PaymentOutcome(
                body=str(found[4]).encode(),
                approved=found[5] != "refused",
                replayed=True,
                payment_id=int(found[2]),
            )
    if not fresh:
        return results

    canteens: dict[int, tuple[CanteenRules, int | None]] = {
        int(r[0]): (CanteenRules(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5]), r[6])
        for r in canteen_cur.fetchall()
    }
    fresh = [i for i in fresh if canteens.get(items[i].terminal.canteen_id, (None, None))[1]]
    card_rows = {str(r[0]): (int(r[1]), str(r[2])) for r in card_cur.fetchall()}
    people: dict[int, _Person] = {}
    by_token: dict[str, _Person] = {}
    for r in code_people_cur.fetchall() + card_people_cur.fetchall():
        got = _Person(int(r[0]), r[1], int(r[2]), r[3], r[4], r[5], str(r[6]), str(r[7]), int(r[8]))
        people.setdefault(got.id, got)
        by_token[got.token] = people[got.id]
    meals: dict[tuple[int, str], dict[str, Any]] = {}
    for r in meal_cur.fetchall():
        m = meals.setdefault(
            (int(r[0]), str(r[1])),
            {
                "id": int(r[2]),
                "name": r[3],
                "starts": r[4],
                "ends": r[5],
                "limit": int(r[6]),
                "prices": {},
            },
        )
        if r[7] is not None:
            m["prices"][str(r[7])] = int(r[8])
    purses: dict[int, dict[str, list[int]]] = {}  # person → kind → [account id, balance]
    for aid, owner, kind, bal in purse_cur.fetchall():
        purses.setdefault(int(owner), {})[str(kind)] = [int(aid), int(bal)]
    counts: dict[tuple[int, int], int] = {
        (int(pid), int(mp)): int(n) for pid, mp, n in count_cur.fetchall()
    }
    closed_row = closed_cur.fetchone()
    last_closed = None if closed_row is None or closed_row[0] is None else str(closed_row[0])
    period = _period(day, last_closed)
    ids = [(int(e), int(p)) for e, p in id_cur.fetchall()]

    # Decide, in arrival order.
    decisions: list[tuple[int, _Decision]] = []
    for i in fresh:
        it = items[i]
        canteen, payable = canteens[it.terminal.canteen_id]
        data: dict[str, Any] = {
            "txn_id": it.req.txn_id,
            "terminal": it.terminal.code,
            "canteen": canteen.name,
        }
        d = _Decision(it, data)
        try:
            kind, value = cred[i]
            step: int | None = None
            if kind == "code":
                found_person = by_token.get(value)
                if found_person is None:
                    # Not a current token: a rotated one (``code_revoked``) or none at
                    # all. Rare, so left to ``decide_and_record`` rather than read here
                    # for every batch.
                    continue
                person = found_person
                step = paycode.match_step(
                    person.secret,
                    parsed[i].otp,
                    at_unix,
                    person.last_step,
                    ctx.settings.paycode_step_seconds,
                )
            else:
                card = card_rows.get(value)
                if card is None:
                    raise UnknownCard()
                if card[1] == "lost":
                    raise CardLost()
                if card[1] == "cancelled":
                    raise CardCancelled()
                person = people[card[0]]
            d.person = person
            data["payer"] = {"name": person.name, "unit": person.unit_name}
            if person.status != "active":
                raise PersonInactive()
            klass = diner_class(person.unit_id, person.category, canteen)
            limit = 0
            period_id = None
            if it.req.meal is not None:
                quote = meals.get((canteen.id, it.req.meal))
                if quote is None:
                    raise NotFound(what=f"餐次 {it.req.meal}")
                m = quote
                t = local_now.time()
                if not (m["starts"] <= t < m["ends"]):
                    raise OutsideMealPeriod(f"{m['name']} {m['starts']:%H:%M}–{m['ends']:%H:%M}")
                price = m["prices"].get(klass)
                if price is None:
                    raise NoPrice()
                amount, limit, period_id = price, m["limit"], m["id"]
            else:
                assert it.req.amount_fen is not None
                amount = it.req.amount_fen
            mine = purses[person.id]
            sub_id, sub_bal = mine["subsidy"]
            cash_id, cash_bal = mine["cash"]
            if period_id is not None and 0 < limit <= counts.get((person.id, period_id), 0):
                raise PeriodLimitReached(limit=limit)
            if sub_bal + cash_bal < amount:
                data["balances"] = {"subsidy_fen": sub_bal, "cash_fen": cash_bal}
                raise InsufficientFunds()
            from_sub, from_cash = split_purses(amount, sub_bal, cash_bal, canteen.purse_order)
            if step is not None:
                # Single use: a later code of this person in the batch sees this step.
                person.last_step = step
                d.code_step = step
        except Refused as refusal:
            data.update(result="refused", code=refusal.code, message=refusal.message(lang))
            d.refusal = refusal.code
            decisions.append((i, d))
            continue
        except OneCardError as exc:  # bad input, unknown meal: nothing is written
            results[i] = exc
            continue
        mine[("subsidy")][1] -= from_sub
        mine[("cash")][1] -= from_cash
        if period_id is not None:
            counts[(person.id, period_id)] = counts.get((person.id, period_id), 0) + 1
        assert payable is not None
        d.status, d.amount, d.from_sub, d.from_cash = "approved", amount, from_sub, from_cash
        d.meal_period_id, d.klass = period_id, klass
        d.legs = [(int(payable), amount)]
        if from_sub:
            d.legs.append((sub_id, -from_sub))
        if from_cash:
            d.legs.append((cash_id, -from_cash))
        data.update(
            result="approved",
            amount_fen=amount,
            subsidy_fen=from_sub,
            cash_fen=from_cash,
            balances={"subsidy_fen": sub_bal - from_sub, "cash_fen": cash_bal - from_cash},
            meal=it.req.meal if period_id is not None else None,
            diner_class=klass,
            at=local_now.isoformat(timespec="seconds"),
        )
        decisions.append((i, d))
    if decisions:
        _write(conn, now, day, period, ids, decisions)
    for i, d in decisions:
        results[i] = PaymentOutcome(
            body=dumps(d.data),
            approved=d.status == "approved",
            payment_id=int(d.data["payment_id"]),
            data=d.data,
        )
    return results


def _period(day: date, last_closed: str | None) -> str:
    """``ledger.service.period_for`` from the last closed quarter already read."""
    q = quarter_of(day)
    first_open = None if last_closed is None else next_quarter(last_closed)
    return q if first_open is None or q >= first_open else first_open


def _write(
    conn: Connection,
    now: datetime,
    day: date,
    period: str,
    ids: list[tuple[int, int]],
    decisions: list[tuple[int, _Decision]],
) -> None:
    """Round trip 2: every write of the batch. ``ids``: (entry id, payment id) pairs
    drawn from the sequences in round trip 1, at least one per decision."""
    ds = [d for _, d in decisions]
    assert len(ids) >= len(ds)
    statements: list[tuple[str, dict[str, Any]]] = []
    steps = {d.person.id: d.code_step for d in ds if d.code_step is not None and d.person}
    if steps:
        statements.append((_STEPS, {"ids": int_array(steps), "steps": int_array(steps.values())}))
    approved = [d for d in ds if d.status == "approved"]
    delta: dict[int, int] = {}
    if approved:
        for d, (eid, _) in zip(approved, ids, strict=False):
            d.entry_id = eid
        e: list[int] = []
        a: list[int] = []
        m: list[int] = []
        for d in approved:
            assert d.entry_id is not None and sum(x for _, x in d.legs) == 0
            for acct, amount in d.legs:
                e.append(d.entry_id)
                a.append(acct)
                m.append(amount)
            for acct, amount in d.legs[1:]:
                delta[acct] = delta.get(acct, 0) + amount
        statements += [
            (
                _ENTRIES,
                {
                    "period": period,
                    "now": now,
                    "rows": _json(
                        [
                            {
                                "id": d.entry_id,
                                "region_id": d.item.terminal.region_id,
                                "key": f"pay:{d.item.terminal.id}:{d.item.req.txn_id}",
                                "actor": f"terminal:{d.item.terminal.code}",
                                "reference": str(d.data["canteen"]),
                                "legs": len(d.legs),
                            }
                            for d in approved
                        ]
                    ),
                },
            ),
            (_POSTINGS, {"e": int_array(e), "a": int_array(a), "m": int_array(m)}),
            (_BALANCES, {"ids": int_array(delta), "ds": int_array(delta.values())}),
        ]
    for d, (_, pid) in zip(ds, ids, strict=False):
        d.data["payment_id"] = pid
    statements.append(
        (
            _PAYMENTS,
            {
                "day": day,
                "now": now,
                "rows": _json(
                    [
                        {
                            "id": d.data["payment_id"],
                            "region_id": d.item.terminal.region_id,
                            "terminal_id": d.item.terminal.id,
                            "txn_id": d.item.req.txn_id,
                            "request_hash": d.item.req.fingerprint(),
                            "status": d.status,
                            "refusal_code": d.refusal,
                            "canteen_id": d.item.terminal.canteen_id,
                            "person_id": d.person.id if d.person else None,
                            "home_unit_id": d.person.unit_id if d.person else None,
                            "credential_kind": "code"
                            if paycode.looks_like_code(d.item.req.credential.strip())
                            else "card",
                            "meal_period_id": d.meal_period_id,
                            "diner_class": d.klass,
                            "amount_fen": d.amount,
                            "subsidy_fen": d.from_sub,
                            "cash_fen": d.from_cash,
                            "entry_id": d.entry_id,
                            "response": dumps(d.data).decode(),
                        }
                        for d in ds
                    ]
                ),
            },
        )
    )
    cursors = _pipelined(conn, statements)
    if steps and cursors[0].rowcount != len(steps):  # the rows are locked: cannot happen
        raise RuntimeError("payment code steps moved under a lock")
    if approved and cursors[-2].rowcount != len(delta):
        # Locked and checked: a purse would have gone negative (the savepoint undoes all).
        raise InsufficientFunds()
