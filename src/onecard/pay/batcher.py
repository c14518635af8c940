"""Group commit for terminal payments (PostgreSQL): many payments, one COMMIT.

Contract:
- ``PaymentBatcher(ctx).start()`` opens ``workers`` dedicated connections, one thread
  each. ``await batcher.pay(terminal, req)`` (or ``batcher.submit(...)`` from a thread)
  validates the request at once (``InvalidInput`` is raised to the caller, never queued),
  then hands it to a worker and returns the same ``PaymentOutcome`` — or raises the same
  exception — that ``service.pay`` would.
- A worker takes the first waiting request, keeps collecting for ``batch_window_ms`` or
  until ``batch_max`` requests, and runs them in ONE transaction on its connection, each
  inside its own SAVEPOINT calling ``service.decide_and_record``. A refusal is an
  ordinary outcome (its decision record is kept); an exception in one payment rolls back
  only that payment's savepoint and goes to that request alone. One COMMIT for the batch,
  then every caller is answered: nobody hears "approved" before the commit is durable.
- Every payment keeps its own purse lock (``FOR UPDATE``) and guarded UPDATE, so payments
  from one purse in one batch see each other's debits: exactly the affordable ones pass.
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
import logging
import queue
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.pay import paycode
from onecard.pay.service import PaymentOutcome, PaymentRequest, TerminalIdentity, decide_and_record

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
    ) -> None:
        if not ctx.db.is_postgres:
            raise ValueError("payment batching needs PostgreSQL")
        self.ctx = ctx
        self.workers = workers or int(getattr(ctx.settings, "batch_workers", 3))
        self.window = (ctx.settings.batch_window_ms if window_ms is None else window_ms) / 1000.0
        self.batch_max = max(1, batch_max or ctx.settings.batch_max)
        self.stats = BatchStats()
        self._queues: list[queue.SimpleQueue[Any]] = []
        self._threads: list[threading.Thread] = []
        self._running = False
        self._lock = threading.Lock()

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> PaymentBatcher:
        if self._running:
            return self
        self._running = True
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
    async def pay(self, terminal: TerminalIdentity, req: PaymentRequest) -> PaymentOutcome:
        req.validate()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PaymentOutcome] = loop.create_future()
        self._enqueue(_Item(terminal, req, loop=loop, afut=fut))
        return await fut

    def submit(
        self, terminal: TerminalIdentity, req: PaymentRequest
    ) -> concurrent.futures.Future[PaymentOutcome]:
        req.validate()
        fut: concurrent.futures.Future[PaymentOutcome] = concurrent.futures.Future()
        self._enqueue(_Item(terminal, req, cfut=fut))
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
                for i, it in enumerate(items):
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
