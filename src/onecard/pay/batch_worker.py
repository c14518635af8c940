"""The machinery of group commit: worker threads, their queues and connections,
reconnects, wait bounds and supervision. (``pay.batcher`` says what a batch does inside
its transaction; this module gets it a live connection and gets every caller an answer.)

Contract:
- ``BatchWorkers`` runs ``workers`` threads, each with its own queue and its own database
  connection. An ``_Item`` is routed to a worker by ``route_key`` (same payer, same
  worker). A worker takes the first waiting item, keeps collecting for the window or up
  to ``batch_max`` items, and hands them to ``run_batch(conn, items)`` (the subclass's),
  which returns one result per item.
- **Bounded waits.** Every item carries a deadline: its arrival plus ``wait`` seconds
  (``ONECARD_PAYMENT_WAIT_SECONDS``). A worker answers an item already past its deadline
  503 (``PaymentNotConfirmed``) without deciding it, and ``run_batch`` checks
  ``past_deadline`` before each COMMIT (raising ``BatchLate``, answered 503): a payment
  is committed within its bound or not at all. That is what makes a "never seen" answer
  of ``GET /api/v1/terminal/payments/{txn_id}`` final (docs/api.md). A worker stuck in
  the database cannot answer at all, so a watchdog thread answers 503 every item still
  unanswered ``ANSWER_GRACE_S`` past its deadline (one thread scanning a queue in
  deadline order, instead of a timer per payment: measured, a per-request
  ``asyncio.timeout`` cost 13–22 µs of the event loop's time per payment).
- **Reconnects.** ``run_batch`` raises ``ConnectionLost`` when its connection died
  (PostgreSQL restarted or crashed, the network dropped). The worker then connects again
  at once and runs the batch again on the new connection — safe, since every payment is
  idempotent by (terminal, txn id): whatever the lost COMMIT kept is replayed byte for
  byte. If no connection can be had, the batch is answered 503 and the worker is *down*:
  it tries again by itself, traffic or none, after ``RECONNECT_FIRST_S`` doubling up to
  ``RECONNECT_MAX_S`` (jittered), and while down a new item routed to it is refused 503
  at once (``enqueue`` raises) instead of queueing behind the outage.
- **Supervision.** A worker survives anything a batch raises (those callers get the
  error; it is logged). A worker thread that died anyway is started again on the same
  queue by the watchdog (every ``WATCH_S``), the next ``enqueue`` or ``health()``; what
  it held is answered by the watchdog at its bound.
- ``health()`` tells whether payments can be taken now: every worker alive, connected and
  not stuck in one batch past the wait bound (``ready``), with each worker's state.
- ``stop()`` answers what is still queued with ``BatcherStopped`` (503) and closes the
  connections.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import queue
import random
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from onecard.core.context import Context
from onecard.core.db import brief
from onecard.core.errors import PaymentNotConfirmed, Unavailable
from onecard.pay import paycode
from onecard.pay.service import PaymentOutcome, PaymentRequest, TerminalIdentity

log = logging.getLogger("onecard.pay.batcher")

# A caller waits this much past its item's deadline for the worker's own answer (which,
# past the deadline, is a 503 itself): only a worker stuck in the database makes the
# caller's own bound the one that answers.
ANSWER_GRACE_S = 1.0
WATCH_S = 0.25  # how often the watchdog looks
RECONNECT_FIRST_S = 0.05
RECONNECT_MAX_S = 2.0


class BatcherStopped(Unavailable):
    code = "service_stopping"
    zh = "服务正在停止，请重试"
    en = "The service is stopping; please retry"


class ConnectionLost(Exception):
    """Raised by ``run_batch``: the batch's connection died; nothing it did is known."""


class BatchLate(Exception):
    """Raised by ``run_batch`` before a COMMIT past an item's deadline (rolled back)."""


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
    # time.monotonic() past which this item is not committed (set by ``enqueue``).
    deadline: float = 0.0
    answered: bool = False


_STOP = object()


def route_key(credential: str) -> int:
    """Same payer → same worker: the card number, or the person token of a code."""
    cred = credential.strip().replace(" ", "")
    if paycode.looks_like_code(cred):
        cred = cred[4:12]
    return zlib.crc32(cred.encode())


def connection_lost(conn: Connection, exc: BaseException) -> bool:
    """Did ``exc`` leave ``conn`` dead (rather than a statement failing on a live one)?"""
    if isinstance(exc, ConnectionLost) or conn.closed or conn.invalidated:
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    try:
        raw = conn.connection.driver_connection
    except Exception:
        return True
    return bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))


def past_deadline(items: list[_Item]) -> bool:
    """True once the earliest deadline among ``items`` has passed (checked pre-COMMIT)."""
    return time.monotonic() >= min(it.deadline for it in items)


@dataclass
class _Worker:
    n: int
    queue: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    thread: threading.Thread | None = None
    conn: Connection | None = None
    failures: int = 0  # connection attempts failed in a row
    next_attempt: float = 0.0  # monotonic time of the next one
    down_since: float | None = None  # monotonic time the connection was lost
    busy_since: float | None = None  # monotonic start of the batch in hand
    restarts: int = 0
    reconnects: int = 0

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def state(self, now: float, wait: float) -> str:
        if not self.alive():
            return "dead"
        if self.conn is None:
            return "reconnecting" if self.failures else "connecting"
        if self.busy_since is not None and now - self.busy_since > wait:
            return "stuck"
        return "ok"


class BatchWorkers:
    """Threads, queues, connections, reconnects and bounds (see the module docstring).
    Subclasses implement ``run_batch``."""

    def __init__(
        self,
        ctx: Context,
        *,
        workers: int,
        window_ms: float,
        batch_max: int,
        wait_s: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.workers = max(1, workers)
        self.window = window_ms / 1000.0
        self.batch_max = max(1, batch_max)
        self.wait = ctx.settings.payment_wait_seconds if wait_s is None else wait_s
        # How a worker gets a connection (tests replace it to play an outage).
        self.connect: Callable[[], Connection] = ctx.db.engine.connect
        self._pool: list[_Worker] = []
        self._running = False
        self._revive_lock = threading.Lock()
        # Every queued item in deadline order, until the watchdog has seen it through.
        self._pending: collections.deque[_Item] = collections.deque()
        self._watching = threading.Event()
        self._watchdog: threading.Thread | None = None

    def run_batch(self, conn: Connection, items: list[_Item]) -> list[Result | None]:
        raise NotImplementedError

    # --- life cycle ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> BatchWorkers:
        """Start the workers; each connects by itself (a database that is down at start
        only means the workers begin in back-off)."""
        if self._running:
            return self
        self._running = True
        for n in range(self.workers):
            w = _Worker(n)
            self._pool.append(w)
            self._spawn(w)
        self._watching.clear()
        self._watchdog = threading.Thread(
            target=self._watch, name="pay-batcher-watchdog", daemon=True
        )
        self._watchdog.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if not self._running:
            return
        self._running = False
        self._watching.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout)
        for w in self._pool:
            w.queue.put(_STOP)
        for w in self._pool:
            if w.thread is not None:
                w.thread.join(timeout)
        # Whatever arrived after the stop marker is answered, not dropped.
        for w in self._pool:
            left: list[_Item] = []
            while True:
                try:
                    it = w.queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(it, _Item):
                    left.append(it)
            _answer_all(left, BatcherStopped)
        # And whatever a worker that would not stop still holds.
        _answer_all([it for it in self._pending if not it.answered], BatcherStopped)
        self._pool.clear()
        self._pending.clear()

    def _spawn(self, w: _Worker) -> None:
        w.thread = threading.Thread(
            target=self._work, args=(w,), name=f"pay-batcher-{w.n}", daemon=True
        )
        w.thread.start()

    def _revive(self, w: _Worker) -> None:
        with self._revive_lock:
            if w.alive() or not self._running:
                return
            w.restarts += 1
            log.error("payment batch worker %d had died; starting it again (#%d)", w.n, w.restarts)
            self._drop(w, lost=True)
            w.failures, w.next_attempt = 0, 0.0
            self._spawn(w)

    # --- submitting ----------------------------------------------------------------------
    async def answer(self, item: _Item) -> PaymentOutcome:
        """Queue ``item`` and wait for its outcome: by its deadline (+ grace) it has one,
        if need be the watchdog's 503."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[PaymentOutcome] = loop.create_future()
        item.loop, item.afut = loop, fut
        self.enqueue(item)
        return await fut

    def submit_item(self, item: _Item) -> concurrent.futures.Future[PaymentOutcome]:
        fut: concurrent.futures.Future[PaymentOutcome] = concurrent.futures.Future()
        item.cfut = fut
        self.enqueue(item)
        return fut

    def enqueue(self, item: _Item) -> None:
        if not self._running:
            raise BatcherStopped()
        w = self._pool[route_key(item.req.credential) % len(self._pool)]
        if not w.alive():
            self._revive(w)
        now = time.monotonic()
        if w.conn is None and w.failures and now < w.next_attempt:
            raise PaymentNotConfirmed()  # its database is down: say so now, not later
        item.deadline = now + self.wait
        self._pending.append(item)
        w.queue.put(item)

    # --- health --------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``ready``: payments can be taken now; ``workers``: each one's state."""
        now = time.monotonic()
        for w in self._pool:
            if self._running and not w.alive():
                self._revive(w)
        workers = [
            {
                "state": w.state(now, self.wait),
                "restarts": w.restarts,
                "reconnects": w.reconnects,
                "down_for_s": None if w.down_since is None else round(now - w.down_since, 3),
            }
            for w in self._pool
        ]
        ready = self._running and bool(workers) and all(x["state"] == "ok" for x in workers)
        return {"ready": ready, "workers": workers}

    # --- the watchdog --------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._watching.wait(WATCH_S):
            self._expire(time.monotonic())
            for w in self._pool:
                if not w.alive():
                    self._revive(w)

    def _expire(self, now: float) -> None:
        """Answer 503 whatever is still unanswered ``ANSWER_GRACE_S`` past its deadline."""
        late: list[_Item] = []
        pending = self._pending
        while pending and pending[0].deadline + ANSWER_GRACE_S <= now:
            it = pending.popleft()
            if not it.answered:
                late.append(it)
        if late:
            log.warning("%d payments waited past their bound; answered 503", len(late))
            _answer_all(late, PaymentNotConfirmed)

    # --- the worker ----------------------------------------------------------------------
    def _work(self, w: _Worker) -> None:
        try:
            while True:
                try:
                    first = w.queue.get(timeout=self._idle_wait(w))
                except queue.Empty:
                    self._connect_if_due(w)
                    continue
                if first is _STOP:
                    return
                items: list[_Item] = [first]
                stop = self._collect(w.queue, items)
                w.busy_since = time.monotonic()
                try:
                    self._serve(w, items)
                except Exception as exc:  # a bug: its callers hear of it, the worker lives
                    log.exception("payment batch worker %d: a batch of %d failed", w.n, len(items))
                    _resolve(items, [exc] * len(items))
                    self._drop(w, lost=True)  # in whatever state it was left: a fresh one
                finally:
                    w.busy_since = None
                if stop:
                    return
        finally:
            self._drop(w, lost=False)

    def _idle_wait(self, w: _Worker) -> float | None:
        """Block for work; while disconnected, only until the next connection attempt."""
        if w.conn is not None:
            return None
        return max(0.0, w.next_attempt - time.monotonic())

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

    def _serve(self, w: _Worker, items: list[_Item]) -> None:
        """Run one batch to an answer for every item (see "Reconnects" above)."""
        for attempt in (1, 2):
            items = _in_time(items)
            if not items:
                return
            if not self._connect_if_due(w, now=attempt == 2):
                _answer_all(items, PaymentNotConfirmed)
                return
            assert w.conn is not None
            try:
                results = self.run_batch(w.conn, items)
            except ConnectionLost as exc:
                log.warning(
                    "payment batch worker %d lost its connection (%s)",
                    w.n,
                    brief(exc.__cause__ or exc),
                )
                self._drop(w, lost=True)
                continue
            except BatchLate:
                log.warning("a payment batch of %d passed its bound; rolled back", len(items))
                _answer_all(items, PaymentNotConfirmed)
                return
            _resolve(items, results)
            return
        _answer_all(_in_time(items), PaymentNotConfirmed)

    def _connect_if_due(self, w: _Worker, now: bool = False) -> bool:
        """Make sure ``w`` has a connection: True if it has one (already, or new)."""
        if w.conn is not None:
            return True
        if not now and time.monotonic() < w.next_attempt:
            return False
        try:
            w.conn = self.connect()
        except Exception as exc:
            w.failures += 1
            delay = min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2 ** (w.failures - 1))
            w.next_attempt = time.monotonic() + delay * random.uniform(0.5, 1.0)
            if w.failures == 1 or w.failures % 50 == 0:
                log.warning(
                    "payment batch worker %d cannot connect (%d tries): %s",
                    w.n,
                    w.failures,
                    brief(exc),
                )
            return False
        if w.down_since is not None:
            w.reconnects += 1
            log.warning(
                "payment batch worker %d connected again after %.2f s",
                w.n,
                time.monotonic() - w.down_since,
            )
        w.failures, w.down_since = 0, None
        return True

    def _drop(self, w: _Worker, *, lost: bool) -> None:
        conn, w.conn = w.conn, None
        if conn is None:
            return
        if lost:
            w.down_since = w.down_since or time.monotonic()
        with contextlib.suppress(Exception):
            if lost:
                conn.invalidate()  # never back into the pool
            conn.close()


def _in_time(items: list[_Item]) -> list[_Item]:
    """Answer the items already past their deadline (503, undecided); return the rest."""
    now = time.monotonic()
    late = [it for it in items if it.deadline <= now]
    if late:
        _answer_all(late, PaymentNotConfirmed)
        return [it for it in items if it.deadline > now]
    return items


def _answer_all(items: list[_Item], error: Callable[[], BaseException]) -> None:
    """Answer every item with an error of its own (an exception is raised once)."""
    _resolve(items, [error() for _ in items])


def _resolve(items: list[_Item], results: Sequence[Result | None]) -> None:
    """Answer every caller still waiting; asyncio callers of one loop woken by one call."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Result]]] = {}
    for it, res in zip(items, results, strict=True):
        it.answered = True
        r: Result = res if res is not None else RuntimeError("payment was not processed")
        if it.cfut is not None:
            # The watchdog and a worker may answer at once: the first one counts.
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                if isinstance(r, BaseException):
                    it.cfut.set_exception(r)
                else:
                    it.cfut.set_result(r)
        elif it.afut is not None and it.loop is not None:
            by_loop.setdefault(it.loop, []).append((it.afut, r))
        # The watchdog keeps the item until its bound: not its outcome too.
        it.afut, it.cfut, it.loop = None, None, None
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_set_all, pairs)


def _set_all(pairs: list[tuple[asyncio.Future[Any], Result]]) -> None:
    for fut, r in pairs:
        if fut.done():  # the caller stopped waiting (its bound passed)
            continue
        if isinstance(r, BaseException):
            fut.set_exception(r)
        else:
            fut.set_result(r)
