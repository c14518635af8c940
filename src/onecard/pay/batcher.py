"""Group commit for terminal payments (PostgreSQL): many payments, one COMMIT.

Contract:
- ``PaymentBatcher(ctx).start()`` starts ``workers`` threads, each with its own
  connection (``pay.batch_worker``: queues, connections, reconnects, wait bounds,
  supervision). ``await batcher.pay(terminal, req)`` (or ``batcher.submit(...)`` from a
  thread) validates the request at once (``InvalidInput`` is raised to the caller, never
  queued), then hands it to a worker and returns the same ``PaymentOutcome`` — or raises
  the same exception — that ``service.pay`` would; or, when no decision could be
  confirmed within ``ONECARD_PAYMENT_WAIT_SECONDS`` (the database unreachable, a batch
  too slow), ``PaymentNotConfirmed`` (503: re-send the same request).
- A worker (one by default) takes the first waiting request, keeps collecting for
  ``batch_window_ms`` or until ``batch_max`` requests, and ``run_batch`` runs them in ONE
  transaction on its connection: set-wise (``pay.batch.decide_batch``: facts read for
  the whole batch, the decision core ``pay.decide`` in arrival order, results written
  set-wise through ``ledger.journal``; two round trips per batch instead of ~14 per
  payment, same answers byte for byte), and what it leaves (a transaction id twice in
  one batch) each inside its own SAVEPOINT calling ``service.decide_and_record``.
  A refusal is an ordinary outcome (its decision record is kept); an exception in one payment rolls back only that payment's savepoint and goes to
  that request alone. One COMMIT for the batch, then every caller is answered: nobody
  hears "approved" before the commit is durable. No COMMIT happens past a request's
  deadline (``BatchLate``); a dead connection is ``ConnectionLost`` (the worker
  reconnects and runs the batch again: every payment is idempotent).
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
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from onecard.core.context import Context
from onecard.core.errors import PaymentNotConfirmed
from onecard.pay.batch import decide_batch
from onecard.pay.batch_worker import (
    BatcherStopped,
    BatchLate,
    BatchWorkers,
    ConnectionLost,
    Result,
    _Item,
    connection_lost,
    past_deadline,
    route_key,
)
from onecard.pay.service import (
    PaymentOutcome,
    PaymentRequest,
    TerminalIdentity,
    decide_and_record,
)
from onecard.pay.terminal_keys import TerminalKeys, confirm

__all__ = ["BatchStats", "BatcherStopped", "PaymentBatcher", "decide_batch", "route_key"]

log = logging.getLogger(__name__)

# SQLSTATEs worth a retry on a fresh transaction: serialization_failure, deadlock_detected,
# lock_not_available; unique_violation (a racing duplicate becomes a replay or a 409).
RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03", "23505"})
SOLO_ATTEMPTS = 3


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


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and _sqlstate(exc) in RETRY_SQLSTATES


class PaymentBatcher(BatchWorkers):
    def __init__(
        self,
        ctx: Context,
        *,
        workers: int | None = None,
        window_ms: float | None = None,
        batch_max: int | None = None,
        set_based: bool = True,
        wait_s: float | None = None,
    ) -> None:
        if not ctx.db.is_postgres:
            raise ValueError("payment batching needs PostgreSQL")
        # One worker by default: while it commits, the next batch gathers (measured: one
        # worker with ~30-payment batches beats three with ~8; no cross-batch deadlocks).
        super().__init__(
            ctx,
            workers=workers or ctx.settings.batch_workers,
            window_ms=ctx.settings.batch_window_ms if window_ms is None else window_ms,
            batch_max=batch_max or ctx.settings.batch_max,
            wait_s=wait_s,
        )
        self.set_based = set_based
        self.stats = BatchStats()
        self.terminals = TerminalKeys(ctx)
        self._lock = threading.Lock()

    def start(self) -> PaymentBatcher:
        if not self.running:
            try:
                self.terminals.warm()
            except Exception as exc:  # the database is down: terminals are looked up as they come
                log.warning("could not load the terminals at start (%s)", exc)
        super().start()
        return self

    # --- submitting ------------------------------------------------------------------------
    async def pay(
        self, terminal: TerminalIdentity, req: PaymentRequest, *, key_hash: str | None = None
    ) -> PaymentOutcome:
        req.validate()
        return await self.answer(_Item(terminal, req, key_hash=key_hash))

    def submit(
        self, terminal: TerminalIdentity, req: PaymentRequest, *, key_hash: str | None = None
    ) -> concurrent.futures.Future[PaymentOutcome]:
        req.validate()
        return self.submit_item(_Item(terminal, req, key_hash=key_hash))

    # --- one batch, one transaction ----------------------------------------------------------
    def run_batch(self, conn: Connection, items: list[_Item]) -> list[Result | None]:
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
                        if connection_lost(conn, exc):
                            raise ConnectionLost() from exc
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
                        if connection_lost(conn, exc):
                            raise ConnectionLost() from exc
                        if _retryable(exc):
                            solo.append(i)
                        else:
                            results[i] = exc
                if past_deadline(items):
                    raise BatchLate()
        except (ConnectionLost, BatchLate):
            raise
        except Exception as exc:  # the COMMIT failed: nothing was kept
            if connection_lost(conn, exc):
                raise ConnectionLost() from exc
            log.warning(
                "payment batch of %d failed to commit (%s); retrying one by one", len(items), exc
            )
            results = [None] * len(items)
            solo = list(range(len(items)))
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
                    outcome = decide_and_record(conn, self.ctx, it.terminal, it.req)
                    if past_deadline([it]):
                        raise BatchLate()
                return outcome
            except BatchLate:
                return PaymentNotConfirmed()
            except Exception as exc:
                if connection_lost(conn, exc):
                    raise ConnectionLost() from exc
                if not _retryable(exc) or attempt == SOLO_ATTEMPTS - 1:
                    return exc
        raise AssertionError("unreachable")


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
