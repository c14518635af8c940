"""The storms as a test (issue 10, item 5): the real server through kill -9 and
PostgreSQL restarts, with terminals that re-send until answered.

On a private PostgreSQL cluster made for the test (``pg_createcluster`` on a free port of
5440–5448, dropped after), ``onecard serve --workers 2`` with group commit on is driven
by 12 terminals, each paying with fresh transaction ids and re-sending the same one until
it is answered (after a lost answer, half of them first ask
``GET /api/v1/terminal/payments/{txn_id}``). Mid-storm:

1. the server is killed with SIGKILL (all its processes) and started again, as a
   supervisor would;
2. PostgreSQL is restarted (``pg_ctlcluster … restart -m fast``), the server untouched;
3. PostgreSQL's postmaster is killed with SIGKILL and started again (crash recovery),
   the server untouched; while it is down ``/readyz`` must say 503 and ``/healthz`` 200.

Then every terminal finishes its last payment, and: every payment a terminal was told
about is in the database with exactly the bytes it was told (0 lost), nothing is in the
database that no terminal was told (so 0 doubled: each purse is its funding minus exactly
the approvals its payers heard), every re-sent or asked-for answer is byte-for-byte the
first, ``ledger verify`` is clean, and after each PostgreSQL restart payments are taken
again without anyone touching the server. Bounded: a ~40 s storm (~65 s with the cluster), every wait capped; the
figures (payments, kills, times to recover) are printed and kept in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text

from onecard.core.clock import Clock
from onecard.core.config import Settings
from onecard.core.context import Context, Database
from onecard.core.db import create_schema, make_engine
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.ledger.verify import verify
from onecard.org import builders as b
from onecard.pay.cards import issue_card_conn
from onecard.pay.models import Payment

pytestmark = pytest.mark.postgres

PG_VERSION = "15"
PORTS = range(5440, 5449)  # this helper's range; 5449 stays a port where nothing listens
TERMINALS = 12
RICH, POOR = 34, 6  # purses that never run dry / that do (so refusals are stored too)
WARM_S, PHASE_S, TAIL_S = 4.0, 5.0, 4.0  # storm before the kill, between events, after
OUTAGE_S = 1.5  # how long PostgreSQL stays dead after the postmaster is killed
RECOVER_BOUND_S = 20.0  # payments must be taken again within this after each event
SETTLE_S = 60.0  # the longest one payment may take to be answered, all retries included
PATH = "/api/v1/terminal/payments"


def _skip_reason() -> str | None:
    if not os.environ.get("ONECARD_TEST_DATABASE_URL"):
        return "PostgreSQL only (ONECARD_TEST_DATABASE_URL)"
    if shutil.which("pg_createcluster") is None or shutil.which("pg_ctlcluster") is None:
        return "needs Debian's pg_createcluster / pg_ctlcluster"
    if os.geteuid() != 0:
        return "pg_createcluster needs root"
    return None


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _run(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)


@dataclass
class Cluster:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/onecard"

    @property
    def data_dir(self) -> Path:
        return Path(f"/var/lib/postgresql/{PG_VERSION}/{self.name}")

    def restart_fast(self) -> None:
        _run("pg_ctlcluster", PG_VERSION, self.name, "restart", "-m", "fast")

    def kill_postmaster(self) -> None:
        pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)

    def start(self) -> None:
        # Right after a crash the old backends may still be leaving shared memory.
        for attempt in range(20):
            try:
                _run("pg_ctlcluster", PG_VERSION, self.name, "start")
                return
            except subprocess.CalledProcessError:
                if attempt == 19:
                    raise
                time.sleep(0.25)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    listed = _run("pg_lsclusters", "-h").stdout.split()
    port = next((p for p in PORTS if _free(p) and str(p) not in listed), None)
    if port is None:
        pytest.skip("no free port in 5440-5448")
    c = Cluster(f"onecard_storm_{port}", port)
    try:
        _run(
            "pg_createcluster",
            PG_VERSION,
            c.name,
            "-p",
            str(port),
            "--start",
            "-o",
            "max_connections=60",
            "--",
            "--auth-host=trust",
            "--auth-local=trust",
        )
        admin = make_engine(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE onecard"))
        admin.dispose()
        yield c
    finally:
        subprocess.run(
            ["pg_dropcluster", PG_VERSION, c.name, "--stop"], capture_output=True, timeout=120
        )


# --- the city -------------------------------------------------------------------------
@dataclass
class City:
    terminals: list[tuple[str, str]]  # (code, key)
    cards: list[str]
    funded: dict[str, int]  # card → subsidy funded
    person_of_card: dict[str, int]


def build_city(engine: Engine, settings: Settings) -> City:
    ctx = Context(db=Database(engine), clock=Clock(), settings=settings)
    terminals: list[tuple[str, str]] = []
    cards: list[str] = []
    funded: dict[str, int] = {}
    person_of_card: dict[str, int] = {}
    with ctx.db.begin() as conn:
        region = b.create_region(conn, "431000", "郴州市")
        unit = b.create_unit(conn, region, "U001", "市财政局", default_standard_fen=60000)
        canteens = [
            b.create_canteen(conn, region, unit, f"C00{n}", f"财政局{n}号食堂") for n in (1, 2)
        ]
        for n in range(TERMINALS):
            code = f"T-S{n:02d}"
            _, key = b.register_terminal(conn, region, canteens[n % 2], code, key=f"key-{code}")
            terminals.append((code, key))
        bank = system_account(conn, "bank_clearing")
        for n in range(RICH + POOR):
            pid = b.create_person(conn, region, unit, f"S{n:03d}", f"职工{n:03d}")
            card = issue_card_conn(conn, ctx, pid)
            amount = 10_000_000 if n < RICH else 1_500
            post(
                conn,
                region_id=region,
                kind="test_fund",
                key=f"storm-fund:{n}",
                legs=[Leg(bank, -amount), Leg(account_id(conn, "person", pid, "subsidy"), amount)],
                actor="test",
                booked_at=ctx.clock.now(),
            )
            cards.append(card)
            funded[card] = amount
            person_of_card[card] = pid
    return City(terminals, cards, funded, person_of_card)


# --- the server, as a supervisor runs it ----------------------------------------------
@dataclass
class Server:
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0

    def start(self) -> None:
        onecard = Path(sys.executable).with_name("onecard")
        cmd = [str(onecard)] if onecard.exists() else [sys.executable, "-m", "onecard.cli"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*cmd, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes every worker
            )

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


async def wait_ready(client: httpx.AsyncClient, seconds: float) -> float:
    """Seconds until ``/readyz`` said 200 (fails the test past ``seconds``)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if (await client.get("/readyz", timeout=2.0)).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server was not ready within {seconds} s")


# --- the terminals ----------------------------------------------------------------------
@dataclass
class Tally:
    answers: dict[tuple[str, str], list[bytes]] = field(default_factory=dict)
    bodies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ok_times: list[float] = field(default_factory=list)  # monotonic time of each 200
    unanswered: list[tuple[str, str]] = field(default_factory=list)
    unexpected: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0  # refused, reset or timed out: the answer never came
    not_confirmed: int = 0  # 503 answers
    asked: int = 0  # GET …/payments/{txn} answered 200
    asked_unseen: int = 0  # … answered 404 payment_not_seen
    resent: int = 0


async def settle(
    client: httpx.AsyncClient, tally: Tally, code: str, body: dict[str, Any], ask_first: bool
) -> None:
    """Send one payment until it is answered; afterwards re-send it once if an answer
    was lost on the way (the retry must be byte-for-byte the same)."""
    key = (code, body["txn_id"])
    got = tally.answers.setdefault(key, [])
    tally.bodies[key] = body
    deadline = time.monotonic() + SETTLE_S
    lost = False
    while time.monotonic() < deadline:
        try:
            if lost and ask_first:
                r = await client.get(f"{PATH}/{body['txn_id']}")
                if r.status_code == 200:
                    tally.asked += 1
                    got.append(r.content)
                    tally.ok_times.append(time.monotonic())
                elif r.status_code == 404:
                    tally.asked_unseen += 1
            r = await client.post(PATH, json=body)
        except httpx.TransportError:
            tally.transport_errors += 1
            lost = True
            await asyncio.sleep(0.1)
            continue
        if r.status_code == 503:
            tally.not_confirmed += 1
            lost = True
            await asyncio.sleep(0.1)
            continue
        if r.status_code != 200:
            tally.unexpected[f"{r.status_code} {r.text[:120]}"] += 1
            return
        got.append(r.content)
        tally.ok_times.append(time.monotonic())
        if lost:
            tally.resent += 1
        return
    tally.unanswered.append(key)


async def terminal(
    n: int, base: str, code: str, key: str, cards: list[str], tally: Tally, stop: asyncio.Event
) -> None:
    rng = random.Random(n)
    headers = {"Authorization": f"Terminal {code}:{key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10.0) as client:
        seq = 0
        while not stop.is_set():
            seq += 1
            body = {
                "txn_id": f"{code}-{seq:06d}",
                "credential": rng.choice(cards),
                "amount_fen": rng.randint(1, 9) * 100,
            }
            await settle(client, tally, code, body, ask_first=n % 2 == 0)
            await asyncio.sleep(0.005)


def gap(tally: Tally, down: float, up: float) -> float:
    """The longest stretch around an event with no payment answered at all."""
    before = max((x for x in tally.ok_times if x <= down), default=down)
    after = min((x for x in tally.ok_times if x > up), default=up)
    return after - before


def first_ok_after(tally: Tally, t: float) -> float:
    later = [x for x in tally.ok_times if x > t]
    assert later, "no payment was answered after the event"
    return min(later) - t


# --- the storm ----------------------------------------------------------------------------
def test_storms_kill_9_and_postgresql_restarts_lose_and_double_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    settings = Settings(
        env="test", database_url=cluster.url, secret_key="storm-secret", batch_payments=True
    )
    engine = make_engine(cluster.url)
    create_schema(engine)
    city = build_city(engine, settings)
    engine.dispose()
    http_port = next(p for p in PORTS if p != cluster.port and _free(p))
    server = Server(
        http_port,
        {
            "ONECARD_DATABASE_URL": cluster.url,
            "ONECARD_BATCH_PAYMENTS": "1",
            "ONECARD_ENV": "test",
            "ONECARD_SECRET_KEY": "storm-secret",
            "ONECARD_PAYMENT_WAIT_SECONDS": "5",
        },
        tmp_path / "server.log",
    )
    base = f"http://127.0.0.1:{http_port}"
    tally = Tally()
    figures: dict[str, Any] = {}

    async def storm() -> None:
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=base) as probe:
            server.start()
            figures["first_start_s"] = round(await wait_ready(probe, 90), 2)
            started = time.monotonic()
            tasks = [
                asyncio.create_task(terminal(n, base, code, key, city.cards, tally, stop))
                for n, (code, key) in enumerate(city.terminals)
            ]
            await asyncio.sleep(WARM_S)

            # 1. kill -9 the whole server mid-storm; the "supervisor" starts it again.
            killed = time.monotonic()
            server.kill9()
            server.start()
            figures["server_kill_ready_s"] = round(await wait_ready(probe, 90), 2)
            ready = time.monotonic()
            await asyncio.sleep(1.0)
            # From the kill to the first payment the new processes answered (answers
            # already on their way when the old ones died do not count).
            figures["server_kill_first_payment_s"] = round(
                ready - killed + first_ok_after(tally, ready), 2
            )
            figures["server_kill_gap_s"] = round(gap(tally, killed, ready), 2)
            await asyncio.sleep(PHASE_S)

            # 2. PostgreSQL restarted (fast shutdown); the server is left alone.
            down = time.monotonic()
            await asyncio.to_thread(cluster.restart_fast)
            up = time.monotonic()
            await asyncio.sleep(0.05)
            figures["pg_restart_s"] = round(up - down, 2)
            figures["pg_restart_ready_s"] = round(await wait_ready(probe, RECOVER_BOUND_S), 2)
            await asyncio.sleep(1.0)
            figures["pg_restart_first_payment_s"] = round(first_ok_after(tally, up), 2)
            figures["pg_restart_gap_s"] = round(gap(tally, down, up), 2)
            await asyncio.sleep(PHASE_S)

            # 3. PostgreSQL crashes (kill -9 of the postmaster), is down a while, recovers.
            down = time.monotonic()
            cluster.kill_postmaster()
            seen: Counter[int] = Counter()
            while time.monotonic() - down < OUTAGE_S:
                seen[(await probe.get("/readyz")).status_code] += 1
                assert (await probe.get("/healthz")).status_code == 200
                await asyncio.sleep(0.1)
            figures["pg_crash_readyz_during_outage"] = dict(seen)
            assert seen[503] >= 1, seen  # readiness tells the truth while it is down
            await asyncio.to_thread(cluster.start)
            up = time.monotonic()
            figures["pg_crash_down_s"] = round(up - down, 2)
            figures["pg_crash_ready_s"] = round(await wait_ready(probe, RECOVER_BOUND_S), 2)
            await asyncio.sleep(1.0)
            figures["pg_crash_first_payment_s"] = round(first_ok_after(tally, up), 2)
            figures["pg_crash_gap_s"] = round(gap(tally, down, up), 2)
            await asyncio.sleep(TAIL_S)

            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), SETTLE_S + 10)
            figures["storm_s"] = round(time.monotonic() - started, 1)
            # Serving by itself at the end: every worker process ready.
            for _ in range(6):
                assert (await probe.get("/readyz")).status_code == 200

    try:
        asyncio.run(storm())
    finally:
        server.stop()
    log_tail = server.log.read_text(errors="replace")[-3000:]

    # --- what the terminals were told against what the database holds -------------------
    assert not tally.unexpected, (tally.unexpected, log_tail)
    assert not tally.unanswered, (len(tally.unanswered), log_tail)
    told: dict[tuple[str, str], bytes] = {}
    for key, got in tally.answers.items():
        assert got, key
        assert all(x == got[0] for x in got), f"answers differ on retry for {key}"
        told[key] = got[0]
    engine = make_engine(cluster.url)
    with engine.connect() as conn:
        codes = {int(i): str(c) for i, c in conn.execute(text("SELECT id, code FROM terminals"))}
        stored = {
            (codes[r.terminal_id], r.txn_id): (r.response.encode(), r.status, r.amount_fen)
            for r in conn.execute(
                select(
                    Payment.terminal_id,
                    Payment.txn_id,
                    Payment.response,
                    Payment.status,
                    Payment.amount_fen,
                )
            )
        }
        lost = [k for k in told if k not in stored or stored[k][0] != told[k]]
        unknown = [k for k in stored if k not in told]
        balances = {
            card: conn.execute(
                text(
                    "SELECT balance FROM accounts WHERE owner_kind = 'person'"
                    " AND owner_id = :p AND kind = 'subsidy'"
                ),
                {"p": pid},
            ).scalar_one()
            for card, pid in city.person_of_card.items()
        }
        entries = conn.execute(
            text("SELECT count(*) FROM journal_entries WHERE kind = 'payment'")
        ).scalar_one()
        report = verify(conn)
    engine.dispose()
    approved = {k: json.loads(v) for k, v in told.items() if json.loads(v)["result"] == "approved"}
    spent: Counter[str] = Counter()
    for k, doc in approved.items():
        spent[tally.bodies[k]["credential"]] += doc["amount_fen"]
    figures.update(
        payments_answered=len(told),
        approved=len(approved),
        refused=len(told) - len(approved),
        transport_errors=tally.transport_errors,
        answered_503=tally.not_confirmed,
        learned_by_asking=tally.asked,
        asked_never_seen=tally.asked_unseen,
        resent_and_answered=tally.resent,
        server_kills=server.kills,
        postgres_restarts=1,
        postgres_crashes=1,
    )
    print("\nstorm figures:", json.dumps(figures, ensure_ascii=False))
    (tmp_path / "storm.json").write_text(json.dumps(figures, indent=1))

    assert lost == [], f"{len(lost)} acknowledged payments lost or changed"
    assert unknown == [], f"{len(unknown)} payments no terminal was told about"
    assert entries == len(approved)  # one ledger entry per approval: nothing doubled
    for card, funded in city.funded.items():
        assert balances[card] == funded - spent[card], card
    assert report.ok, report.problems[:5]
    assert tally.transport_errors > 0 and len(approved) > 100 and len(told) > len(approved)
