"""The sandbox bank outlives a process: one store, shared by the server, every CLI
command and ``onecard bank-sandbox``; its callbacks are carried by a courier."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from funding.city import BUREAU, build_city
from onecard.channels.bank import DINING_FUND_ACCOUNT, EXPENDITURE_ACCOUNT, INCOME_ACCOUNT, gateway
from onecard.channels.factory import sandbox_store_url
from onecard.channels.sandbox import PG_SCHEMA, SandboxBank
from onecard.core.clock import FixedClock
from onecard.core.config import Settings
from onecard.core.context import Context
from onecard.funding import notices
from onecard.funding.models import BankOrder, FundingReceipt

FACE_KEY = "A" * 43 + "="  # 32 bytes as base64 (production wants a face key)

SECRET = b"test-secret"
UNIT = "43001000000000000777"
T0 = datetime(2026, 3, 2, 1, 30, 0, tzinfo=UTC)  # 09:30 local on 2026-03-02
ROOT = Path(__file__).parents[2]


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bank.db'}"


def bank_at(store: str) -> SandboxBank:
    return SandboxBank(SECRET, FixedClock(T0), store)


def test_two_banks_on_one_store_are_one_bank(store: str) -> None:
    a, b = bank_at(store), bank_at(store)
    a.open_outside_account(UNIT, "市财政局", 100_000)
    b.credit_from_outside(UNIT, DINING_FUND_ACCOUNT, 30_000, "JF-U001-2026Q1")
    a.pay_out(
        "TRF-1",
        INCOME_ACCOUNT,
        "市机关事务管理局一卡通收入户",
        30_000,
        "转拨",
        from_account=DINING_FUND_ACCOUNT,
    )
    assert a.statement(date(2026, 3, 2)) == b.statement(date(2026, 3, 2))
    assert len(b.statement(date(2026, 3, 2))) == 3
    assert b.platform_balance(INCOME_ACCOUNT) == 30_000
    assert b.outside_balance(UNIT) == 70_000
    [(body, sig)] = b.pending_notifications()
    assert a.verify_notification(body, sig).order_id == "TRF-1"
    assert b.deliver(lambda body, sig: None) == 1
    assert a.pending_notifications() == []
    a.dispose()
    b.dispose()
    later = bank_at(store)  # a new process, the same bank
    assert later.platform_balance(INCOME_ACCOUNT) == 30_000
    # The same order id is the same order at the bank, whoever asks.
    assert (
        later.pay_out(
            "TRF-1",
            INCOME_ACCOUNT,
            "市机关事务管理局一卡通收入户",
            30_000,
            "转拨",
            from_account=DINING_FUND_ACCOUNT,
        ).order_id
        == "TRF-1"
    )
    assert later.platform_balance(INCOME_ACCOUNT) == 30_000
    later.dispose()


def test_two_couriers_never_hand_over_one_notification_twice(store: str) -> None:
    bank = bank_at(store)
    bank.open_outside_account(UNIT, "市财政局", 100_000)
    bank.credit_from_outside(UNIT, EXPENDITURE_ACCOUNT, 10_000, "x")
    for n in range(8):
        bank.pay_out(f"P{n}", UNIT, "市财政局", 100, "退回")
    seen: list[str] = []
    lock = threading.Lock()

    def slow(body: bytes, sig: str) -> None:
        time.sleep(0.02)
        with lock:
            seen.append(bank.verify_notification(body, sig).order_id)

    others = [bank_at(store) for _ in range(3)]
    threads = [threading.Thread(target=b.deliver, args=(slow,)) for b in [bank, *others]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(seen) == [f"P{n}" for n in range(8)]
    for b in [bank, *others]:
        b.dispose()


def test_a_refused_notification_waits_longer_each_time(store: str) -> None:
    bank = bank_at(store)
    bank.open_outside_account(UNIT, "市财政局", 100_000)
    bank.debit_card_for_topup("T1", UNIT, 100)

    def refuse(body: bytes, sig: str) -> None:
        raise RuntimeError("server down")

    assert bank.deliver(refuse, retry_after=60.0) == 0
    assert bank.deliver(lambda b, s: None, retry_after=60.0) == 0  # not yet
    assert len(bank.pending_notifications()) == 1
    bank.dispose()


def test_the_store_lives_next_to_the_city_by_default(tmp_path: Path) -> None:
    db = tmp_path / "city.db"
    s = Settings(env="test", secret_key="test-secret", database_url=f"sqlite:///{db}")
    assert sandbox_store_url(s) == f"sqlite:///{tmp_path / 'city-bank-sandbox.db'}"
    pg = Settings(env="test", secret_key="test-secret", database_url="postgresql://u@h/onecard")
    assert sandbox_store_url(pg) == "postgresql://u@h/onecard"
    own = Settings(
        env="test",
        secret_key="test-secret",
        database_url=f"sqlite:///{db}",
        bank_sandbox_url="sqlite://",
    )
    assert sandbox_store_url(own) == "sqlite://"
    assert (
        Settings(
            env="production", secret_key="x" * 32, face_key=FACE_KEY, partner_key=FACE_KEY
        ).bank_adapter
        == "files"
    )
    assert Settings(env="development").bank_adapter == "sandbox"
    with pytest.raises(ValueError, match="not in production"):
        Settings(
            env="production",
            secret_key="x" * 32,
            face_key=FACE_KEY,
            partner_key=FACE_KEY,
            bank="sandbox",
        )


@pytest.fixture
def pg_store(pg_engine: Engine | None) -> Iterator[str]:
    if pg_engine is None:
        pytest.skip("PostgreSQL only")

    def drop() -> None:
        with pg_engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))

    drop()
    yield pg_engine.url.render_as_string(hide_password=False)
    drop()


def test_the_store_on_postgresql_keeps_to_its_schema(pg_store: str, pg_engine: Engine) -> None:
    a, b = bank_at(pg_store), bank_at(pg_store)
    a.open_outside_account(UNIT, "市财政局", 1_000)
    b.credit_from_outside(UNIT, DINING_FUND_ACCOUNT, 300, "x")
    assert a.platform_balance(DINING_FUND_ACCOUNT) == 300
    with pg_engine.connect() as conn:
        tables = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": PG_SCHEMA}
            ).scalars()
        )
    assert {"sbx_accounts", "sbx_lines", "sbx_outbox"} <= tables
    a.dispose()
    b.dispose()


def onecard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """One ``onecard`` command in its own process."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "onecard"), *args],
        env={**os.environ, **env, "COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_what_one_command_sent_is_at_the_bank_for_the_next(ctx: Context, store: str) -> None:
    """`funding receipts` reads the statement from the shared sandbox, `funding transfer`
    leaves its orders there when it ends, and `bank-sandbox deliver` (a later process)
    hands the bank's verdicts to the city: nothing vanishes with a process."""
    ctx.bank = SandboxBank(SECRET, ctx.clock, store)
    city = build_city(ctx)
    city.at(date(2026, 1, 2))
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    city.at(date(2026, 1, 8), 10)
    city.unit_pays("A", 105000, "JF-U001-2026Q1")
    city.unit_pays("B", 120000, "JF-U002-2026Q1")
    env = {
        "ONECARD_DATABASE_URL": ctx.db.engine.url.render_as_string(hide_password=False),
        "ONECARD_BANK": "sandbox",
        "ONECARD_BANK_SANDBOX_URL": store,
        "ONECARD_SECRET_KEY": SECRET.decode(),
        "ONECARD_ENV": "development",
    }
    got = onecard(env, "funding", "receipts", "2026-01-08")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "新增 2" in got.stdout
    got = onecard(env, "funding", "transfer")
    assert got.returncode == 0, got.stdout + got.stderr
    with ctx.db.read() as conn:
        assert set(conn.execute(select(BankOrder.status)).scalars()) == {"pending"}
        assert conn.execute(select(FundingReceipt.transfer_entry_id)).scalars().all()
    assert len(gateway(ctx).pending_notifications()) == 2  # type: ignore[attr-defined]
    got = onecard(env, "bank-sandbox", "deliver")
    assert got.returncode == 0 and "已投递 2 条通知" in got.stdout, got.stdout + got.stderr
    with ctx.db.read() as conn:
        assert set(conn.execute(select(BankOrder.status)).scalars()) == {"succeeded"}
    got = onecard(env, "bank-sandbox", "status")
    assert "2250.00 元" in got.stdout  # the income account, seen by yet another process


def test_the_served_app_carries_the_sandboxs_callbacks(ctx: Context) -> None:
    """``onecard serve`` runs a courier: a top-up completes with nobody delivering."""
    import warnings

    from onecard.pay import topup
    from onecard.pay.models import TopupOrder
    from onecard.web.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    city = build_city(ctx)

    def status() -> str:
        with ctx.db.read() as conn:
            return str(conn.execute(select(TopupOrder.status)).scalar_one())

    with TestClient(create_app(ctx, bank_courier=True)):
        topup.request_topup(ctx, city.people["a1"], 5000, "T-COURIER")
        deadline = time.monotonic() + 20
        while status() == "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
    assert status() == "succeeded" and city.purse("a1") == (0, 5000)


def test_bank_sandbox_run_calls_the_server_back_over_http(ctx: Context) -> None:
    """``onecard bank-sandbox run --callback URL``: each notification is POSTed, signed,
    to the server's callback route; one the server does not take stays queued and is
    tried again after a pause."""
    from onecard.channels.courier import Courier, http_handler
    from onecard.pay import topup
    from onecard.pay.models import TopupOrder
    from web.browser import LiveServer

    city = build_city(ctx)
    bank = gateway(ctx)
    assert isinstance(bank, SandboxBank)
    topup.request_topup(ctx, city.people["a1"], 5000, "T-HTTP")
    server = LiveServer(ctx).start()
    try:
        wrong = Courier(bank, http_handler(f"{server.url}/api/v1/channels/bank/nowhere"))
        assert wrong.run_once() == 0 and len(bank.pending_notifications()) == 1
        right = Courier(bank, http_handler(f"{server.url}/api/v1/channels/bank/notify"))
        assert right.run_once() == 0  # not before its pause (1 s) is over
        time.sleep(1.1)
        assert right.run_once() == 1 and bank.pending_notifications() == []
    finally:
        server.stop()
    with ctx.db.read() as conn:
        assert conn.execute(select(TopupOrder.status)).scalar_one() == "succeeded"
    assert city.purse("a1") == (0, 5000)
