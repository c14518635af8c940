"""The lunch-rush benchmark, end to end: pgbench anchor, city, HTTP load, checks.

Contract: ``run_rush(opts, say)`` runs pgbench's tpcb-like script for the same duration
and client count as the closed loop, builds the city (``city.build_city``), then for
each mode (``single``: one transaction per payment; ``batch``: ``PaymentBatcher`` group
commit), after a ``CHECKPOINT``, starts the real server (``onecard serve``) on
127.0.0.1, warms it up, drives it closed-loop and open-loop (``load``), reads the
server's CPU and peak RSS, PostgreSQL's CPU and its commit count, and stops the server. Finally it checks the database against
what the terminals heard: ``ledger verify`` clean, approved payments' sum equal to the
canteens' takings in the ledger, and (when no request was lost) equal to the approved
amounts the terminals were told. Every phase is bounded in time; nothing runs after it
returns. ``RushReport`` holds every figure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from onecard.bench.city import FULL, BenchCity, CityScale, build_city, check_local, plain_url
from onecard.bench.face_rush import enrol_faces
from onecard.bench.load import LoadResult, Workload, closed_loop, open_loop
from onecard.bench.procs import (
    Server,
    checkpoint,
    machine_busy,
    peak_rss_mb,
    postgres_cpu_seconds,
    run_pgbench,
    tree_cpu_seconds,
    tree_peak_rss_mb,
)
from onecard.bench.quarter import QuarterReport, load_quarter, run_quarter
from onecard.core.db import make_engine
from onecard.ledger.verify import verify

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/onecard_bench"
# single: HTTP, one transaction per payment; batch: HTTP, group commit (PaymentBatcher);
# engine: the PaymentBatcher driven in-process by threads, no HTTP — the payment engine's
# own ceiling, to separate the database path from the web stack's cost.
MODES = ("single", "batch", "engine")
Say = Callable[[str], None]


@dataclass
class RushOptions:
    url: str = DEFAULT_URL
    scale: CityScale = FULL
    seconds: float = 30.0  # closed loop (and pgbench) duration per mode
    clients: int = 32  # closed-loop terminals = pgbench clients
    rates: tuple[float, ...] = (1000.0,)  # open loop: offered payments/s, one phase each
    open_seconds: float = 20.0  # 0 skips the open loop
    modes: tuple[str, ...] = MODES
    pgbench: bool = True
    pgbench_scale: int = 32
    port: int = 8765
    # Unmeasured payments before each mode (they count in the checks): a city's database
    # just built is cold, and the first 15-30 s of payments cost PostgreSQL twice the CPU
    # (measured: the same engine 985/s first, 2,151/s after a batch phase). A real lunch
    # rush meets a server that has been taking breakfasts since morning.
    warmup: float = 15.0
    profile: str | None = None  # py-spy raw stacks of each mode's closed loop: <profile>.<mode>
    batch_window_ms: float | None = None
    batch_max: int | None = None
    quarter_payments: int = 0  # the city-quarter part (0 skips it)
    server_workers: int = 1  # `onecard serve --workers`: server processes
    # The share of each canteen's terminals that pay by face (bench.face_rush); 0 keeps
    # the rush card and payment code only, comparable with the figures recorded before.
    face_share: float = 0.0
    # A province (issue 17 §5): this many cities of ``scale`` in one database, each city a
    # region with its own dining fund; its people eat in their own city.
    cities: int = 1

    def __post_init__(self) -> None:
        check_local(self.url)
        for m in self.modes:
            if m not in MODES:
                raise ValueError(f"unknown mode {m!r}; choose from {MODES}")
        if not 0 < self.seconds <= 600 or not 0 <= self.open_seconds <= 600:
            raise ValueError("each load phase runs between 1 and 600 seconds")
        if not 1 <= self.clients <= 200:
            raise ValueError("1–200 terminals")


@dataclass
class PhaseFigures:
    load: LoadResult
    server_cpu: float = 0.0
    postgres_cpu: float = 0.0
    machine_util: float = 0.0  # share of the machine's cores busy


@dataclass
class ModeReport:
    mode: str
    closed: PhaseFigures
    opens: list[PhaseFigures] = field(default_factory=list)
    warmup: LoadResult | None = None
    peak_rss_mb: float = 0.0
    profile_path: str | None = None
    writes: int = 0  # decision records written while the server ran
    transactions: int = 0  # distinct transactions that wrote them (xmin)

    @property
    def loads(self) -> list[LoadResult]:
        out = [self.warmup, self.closed.load, *(o.load for o in self.opens)]
        return [x for x in out if x is not None]

    @property
    def commits_per_payment(self) -> float:
        return self.transactions / self.writes if self.writes else float("nan")


@dataclass
class Consistency:
    approved_count: int = 0
    approved_fen: int = 0
    refused_count: int = 0
    takings_fen: int = 0  # canteens' payable accounts, from postings
    payment_entries: int = 0
    told_approved_fen: int = 0  # what the terminals heard
    lost_requests: int = 0  # requests without an answer (errors, timeouts)
    verify_ok: bool = False
    verify_problems: list[str] = field(default_factory=list)
    entries: int = 0
    postings: int = 0

    @property
    def ok(self) -> bool:
        told = self.lost_requests > 0 or self.told_approved_fen == self.approved_fen
        return self.verify_ok and self.approved_fen == self.takings_fen and told


@dataclass
class RushReport:
    opts: RushOptions
    city: BenchCity
    pgbench_tps: float | None = None
    pgbench_output: str = ""
    modes: list[ModeReport] = field(default_factory=list)
    consistency: Consistency = field(default_factory=Consistency)
    quarter: QuarterReport | None = None
    started: float = field(default_factory=time.time)
    cpu_count: int = field(default_factory=lambda: os.cpu_count() or 0)

    @property
    def profile_text(self) -> str:
        from onecard.bench.profile import render, summarise

        out = []
        for m in self.modes:
            if m.profile_path and os.path.exists(m.profile_path):
                out.append(f"profile of the server, {m.mode} closed loop ({m.profile_path}):")
                out.append(render(summarise(m.profile_path), 12))
        return "\n".join(out)

    def ratio(self, m: ModeReport) -> float | None:
        if not self.pgbench_tps:
            return None
        return m.closed.load.rate / self.pgbench_tps


def last_payment_id(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(text("SELECT coalesce(max(id), 0) FROM payments")).scalar_one())
    finally:
        engine.dispose()


def transactions_since(url: str, after_id: int) -> tuple[int, int]:
    """(decision records, transactions that wrote them) since ``after_id``: rows written
    by one transaction share its ``xmin``, so this counts commits exactly."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            n, tx = c.execute(
                text("SELECT count(*), count(DISTINCT xmin::text) FROM payments WHERE id > :a"),
                {"a": after_id},
            ).one()
            return int(n), int(tx)
    finally:
        engine.dispose()


async def _phase(
    server: Server,
    run: Callable[[], asyncio.Future[LoadResult] | asyncio.Task[LoadResult]],
) -> PhaseFigures:
    s0, p0, (b0, t0) = tree_cpu_seconds(server.pid), postgres_cpu_seconds(), machine_busy()
    load = await run()
    s1, p1, (b1, t1) = tree_cpu_seconds(server.pid), postgres_cpu_seconds(), machine_busy()
    return PhaseFigures(
        load=load,
        server_cpu=s1 - s0,
        postgres_cpu=max(0.0, p1 - p0),  # backends that exit take their CPU with them
        machine_util=(b1 - b0) / (t1 - t0) if t1 > t0 else 0.0,
    )


def _start_profile(pid: int, seconds: float, path: str) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(exe):
        return None
    return subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, int(seconds))),
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            path,
            "--nonblocking",
            "--subprocesses",  # a server of several processes: every worker
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop_profile(p: subprocess.Popen[bytes] | None) -> None:
    if p is None:
        return
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def run_mode(opts: RushOptions, city: BenchCity, work: Workload, mode: str, say: Say) -> ModeReport:
    env = {
        "ONECARD_DATABASE_URL": opts.url,
        "ONECARD_BATCH_PAYMENTS": "1" if mode == "batch" else "0",
        "ONECARD_REGION_CODE": "431000",
        "ONECARD_REGION_NO": work.region_no,
    }
    if opts.batch_window_ms is not None:
        env["ONECARD_BATCH_WINDOW_MS"] = str(opts.batch_window_ms)
    if opts.batch_max is not None:
        env["ONECARD_BATCH_MAX"] = str(opts.batch_max)
    if work.face is not None:
        env["ONECARD_FACE_KEY"] = work.face.key_b64
    server = Server(
        opts.url,
        opts.port,
        env,
        workers=opts.server_workers,
        log_path=f"/tmp/onecard-bench-server-{mode}.log",
    )
    first = last_payment_id(opts.url)
    server.start()
    report: ModeReport | None = None
    try:
        warm = None
        if opts.warmup > 0:
            warm = asyncio.run(
                closed_loop(opts.port, work, opts.clients, opts.warmup, f"warm-{mode}")
            )
        say(f"  {mode}: closed loop, {opts.clients} terminals × {opts.seconds:g} s")
        prof_proc = None
        prof_path = None
        if opts.profile:
            prof_path = f"{opts.profile}.{mode}"
            prof_proc = _start_profile(server.pid, opts.seconds, prof_path)
        closed = asyncio.run(
            _phase(
                server,
                lambda: asyncio.ensure_future(
                    closed_loop(opts.port, work, opts.clients, opts.seconds, f"closed-{mode}")
                ),
            )
        )
        _stop_profile(prof_proc)
        report = ModeReport(
            mode, closed, warmup=warm, profile_path=prof_path if prof_proc else None
        )
        for rate in opts.rates if opts.open_seconds > 0 else ():
            say(f"  {mode}: open loop, {rate:g} payments/s offered × {opts.open_seconds:g} s")
            report.opens.append(asyncio.run(_open_phase(server, opts, work, rate, mode)))
            time.sleep(1.0)  # what an overloaded phase left queued drains before the next
        report.peak_rss_mb = tree_peak_rss_mb(server.pid)
    finally:
        server.stop()
    assert report is not None
    report.writes, report.transactions = transactions_since(opts.url, first)
    return report


def run_engine(opts: RushOptions, city: BenchCity, work: Workload, say: Say) -> ModeReport:
    """Closed loop straight into a ``PaymentBatcher`` in this process (no HTTP)."""
    import json
    import threading

    from onecard.bench.load import _account
    from onecard.core.config import Settings
    from onecard.core.context import Context
    from onecard.org.builders import hash_device_key
    from onecard.pay.batcher import PaymentBatcher
    from onecard.pay.service import PaymentRequest, TerminalIdentity

    say(f"  engine: closed loop in-process, {opts.clients} threads × {opts.seconds:g} s")
    ctx = Context.from_settings(Settings(database_url=opts.url, env="development"))
    idents = {
        t.id: TerminalIdentity(
            t.id, t.code, city.region_of_canteen.get(t.canteen_id, city.region_id), t.canteen_id
        )
        for ts in city.terminals.values()
        for t in ts
    }
    # As the web path does: every batch confirms its terminals' keys in its transaction.
    key_hashes = {t.id: hash_device_key(t.key) for ts in city.terminals.values() for t in ts}
    first = last_payment_id(opts.url)
    lock = threading.Lock()
    batcher = PaymentBatcher(ctx).start()

    def drive(res: LoadResult, seconds: float) -> None:
        """``opts.clients`` threads paying as fast as answered for ``seconds``."""
        deadline = time.perf_counter() + seconds

        def terminal() -> None:
            while time.perf_counter() < deadline:
                with lock:
                    pay = work.next(res.name)
                doc = json.loads(pay.body)
                req = PaymentRequest(
                    doc["txn_id"], doc["credential"], doc.get("meal"), doc.get("amount_fen")
                )
                t0 = time.perf_counter()
                try:
                    out = batcher.submit(
                        idents[pay.terminal.id], req, key_hash=key_hashes[pay.terminal.id]
                    ).result(timeout=60)
                except Exception as exc:
                    with lock:
                        res.errors[type(exc).__name__] = res.errors.get(type(exc).__name__, 0) + 1
                    continue
                with lock:
                    res.latencies.append(time.perf_counter() - t0)
                    _account(res, pay, 200, out.body)
                    if doc["credential"].startswith("8"):
                        res.code += 1
                    else:
                        res.card += 1
                if pay.retry:
                    again = batcher.submit(
                        idents[pay.terminal.id], req, key_hash=key_hashes[pay.terminal.id]
                    ).result(timeout=60)
                    with lock:
                        res.retries += 1
                        res.retry_mismatches += again.body != out.body

        start = time.perf_counter()
        threads = [threading.Thread(target=terminal) for _ in range(opts.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        res.seconds = time.perf_counter() - start

    warm = LoadResult("warm-engine") if opts.warmup > 0 else None
    res = LoadResult("closed-engine")
    try:
        if warm is not None:
            drive(warm, opts.warmup)
        c0, p0, (b0, t0) = time.process_time(), postgres_cpu_seconds(), machine_busy()
        drive(res, opts.seconds)
        c1, p1, (b1, t1) = time.process_time(), postgres_cpu_seconds(), machine_busy()
    finally:
        batcher.stop()
        ctx.db.engine.dispose()
    res.client_cpu = c1 - c0  # the terminals and the engine share this process
    closed = PhaseFigures(
        res,
        server_cpu=c1 - c0,
        postgres_cpu=max(0.0, p1 - p0),
        machine_util=(b1 - b0) / (t1 - t0) if t1 > t0 else 0.0,
    )
    report = ModeReport("engine", closed, warmup=warm, peak_rss_mb=peak_rss_mb(os.getpid()))
    report.writes, report.transactions = transactions_since(opts.url, first)
    return report


async def _open_phase(
    server: Server, opts: RushOptions, work: Workload, rate: float, mode: str
) -> PhaseFigures:
    return await _phase(
        server,
        lambda: asyncio.ensure_future(
            open_loop(opts.port, work, rate, opts.open_seconds, name=f"open{rate:g}-{mode}")
        ),
    )


def check_consistency(url: str, reports: list[ModeReport]) -> Consistency:
    out = Consistency()
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            row = c.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'approved'),"
                    " coalesce(sum(amount_fen) FILTER (WHERE status = 'approved'), 0),"
                    " count(*) FILTER (WHERE status = 'refused') FROM payments"
                )
            ).one()
            out.approved_count, out.approved_fen, out.refused_count = (int(x) for x in row)
            out.takings_fen = int(
                c.execute(
                    text(
                        "SELECT coalesce(sum(p.amount), 0) FROM postings p"
                        " JOIN accounts a ON a.id = p.account_id"
                        " WHERE a.kind = 'canteen_payable'"
                    )
                ).scalar_one()
            )
            out.payment_entries = int(
                c.execute(
                    text("SELECT count(*) FROM journal_entries WHERE kind = 'payment'")
                ).scalar_one()
            )
            rep = verify(c)
            c.rollback()
        out.verify_ok, out.verify_problems = rep.ok, rep.problems
        out.entries, out.postings = rep.entries, rep.postings
    finally:
        engine.dispose()
    for m in reports:
        for load in m.loads:
            out.told_approved_fen += load.approved_fen
            out.lost_requests += load.error_count
    return out


def run_rush(
    opts: RushOptions,
    say: Say = print,
    progress: Callable[[str, int, int], None] | None = None,
    city: BenchCity | None = None,
) -> RushReport:
    # The anchor first: pgbench's 3.2 M-row tables would otherwise push the city out of
    # PostgreSQL's 128 MB of shared buffers just before the rush (a run with pgbench in
    # between took 638 payments/s in its closed loop against 932–1,115/s without).
    tps, pgbench_output = _anchor(opts, say)
    if city is None:
        s = opts.scale
        say(
            (
                f"building a province of {opts.cities} cities, each: "
                if opts.cities > 1
                else "building the city: "
            )
            + f"{s.units:,} units, {s.canteens:,} canteens, {s.staff:,} staff"
            f" ({plain_url(opts.url)})"
        )
        city = build_city(opts.url, opts.scale, progress=progress, cities=opts.cities)
        say(f"  built in {city.seconds:.1f} s")
    report = RushReport(opts, city, pgbench_tps=tps, pgbench_output=pgbench_output)
    face = None
    if opts.face_share > 0:
        say(f"enrolling faces: liveness on {opts.face_share:.0%} of the terminals")
        face = enrol_faces(city, opts.face_share)
        say(f"  {len(face.faces):,} people, {len(face.terminal_ids):,} face terminals")
    work = Workload(city, face=face)
    # Warm-ups are not measured but their payments are real: they count in the checks.
    for mode in opts.modes:
        checkpoint(opts.url)
        if mode == "engine":  # the batcher in-process takes card and code only
            work.face = None
            report.modes.append(run_engine(opts, city, work, say))
            work.face = face
        else:
            report.modes.append(run_mode(opts, city, work, mode, say))
    report.consistency = check_consistency(opts.url, report.modes)
    if opts.quarter_payments > 0:
        report.quarter = run_city_quarter(opts, city, say)
    return report


def _anchor(opts: RushOptions, say: Say) -> tuple[float | None, str]:
    """pgbench tpcb-like on this server: (TPS, its output), or (None, "") when skipped."""
    if not opts.pgbench:
        return None, ""
    if shutil.which("pgbench") is None:
        say("  pgbench not found: install postgresql-contrib (the anchor is skipped)")
        return None, ""
    say(
        f"pgbench tpcb-like: {opts.clients} clients × {opts.seconds:g} s"
        f" (scale {opts.pgbench_scale})"
    )
    checkpoint(opts.url)
    tps, output = run_pgbench(
        opts.url, opts.clients, max(1, round(opts.seconds)), opts.pgbench_scale
    )
    say(f"  {tps:,.0f} TPS")
    return tps, output


def _quarter_context(opts: RushOptions, city: BenchCity) -> Any:
    from datetime import datetime, time

    from onecard.bench.bank import AcceptingBank
    from onecard.core.clock import FixedClock, from_local, quarter_bounds
    from onecard.core.config import Settings
    from onecard.core.context import Context

    # The settlement's payouts go to a bank that accepts them: its cost is not OneCard's.
    # The runs keep their calendar (funding.calendar): the clock stands at 09:00 on the
    # first day after the city's quarter, when its settlement may run.
    _, after = quarter_bounds(city.quarter)
    clock = FixedClock(from_local(datetime.combine(after, time(9))))
    return Context.from_settings(
        Settings(database_url=opts.url, env="development"),
        clock=clock,
        bank=lambda c: AcceptingBank(c.clock),
    )


def time_city_pages(opts: RushOptions, city: BenchCity, say: Say) -> Any:
    """The bureau's pages on the city's quarter as loaded (``bench.pages``)."""
    from onecard.bench.pages import time_pages

    ctx = _quarter_context(opts, city)
    try:
        say("the bureau's pages (dashboard roll-ups folded first)")
        return time_pages(ctx, city.quarter)
    finally:
        ctx.db.engine.dispose()


def time_city_offline(opts: RushOptions, city: BenchCity, terminals: int, changes: int) -> Any:
    """Offline terminals' working sets on the city as built (``bench.offline``)."""
    from onecard.bench.offline import time_working_sets

    ctx = _quarter_context(opts, city)
    try:
        return time_working_sets(ctx, terminals, changes)
    finally:
        ctx.db.engine.dispose()


def run_city_quarter(opts: RushOptions, city: BenchCity, say: Say) -> QuarterReport:
    say(f"city quarter: bulk-loading ~{opts.quarter_payments:,} payments")
    n, secs = load_quarter(opts.url, city, opts.quarter_payments, say)
    say(f"  {n:,} payments loaded in {secs:.0f} s")
    ctx = _quarter_context(opts, city)
    try:
        rep = run_quarter(opts.url, city, ctx, say)
        from onecard.bench.pages import time_pages

        say("  the bureau's pages (dashboard roll-ups folded first)")
        rep.pages = time_pages(ctx, city.quarter)
    finally:
        ctx.db.engine.dispose()
    rep.payments, rep.load_seconds = n, secs
    return rep
