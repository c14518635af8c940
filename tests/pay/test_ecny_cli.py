"""``onecard ecny …`` against a city on disk: the sandbox acquirer's store outlives the
process that paid, so a later command (another ``SandboxEcny`` on the same file)
resolves what the first one left pending, and reconciles the day."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from onecard.channels.ecny_sandbox import SandboxEcny
from onecard.channels.factory import ecny_for
from onecard.cli import app
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.ledger.service import account_id, derived_balance
from onecard.pay import ecny
from onecard.pay.service import PaymentRequest
from world import build_world

runner = CliRunner()


def test_resolve_and_reconcile_from_another_process(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    if ctx.db.is_postgres:
        pytest.skip("the sandbox store's file lives next to the SQLite database")
    monkeypatch.setenv("ONECARD_SECRET_KEY", ctx.settings.secret_key)
    monkeypatch.setenv("COLUMNS", "200")
    w = build_world(ctx)
    first = ecny_for(ctx)
    assert isinstance(first, SandboxEcny)
    ctx.ecny = first
    first.open_wallet("W-1", "张三", 5_000)
    first.behave(timeouts=1, down=1)
    req = PaymentRequest("cli-1", first.pay_code("W-1"), amount_fen=1_200)
    got = ecny.pay(ctx, w.terminals["A"], req)
    assert got.status == "pending"
    first.dispose()

    url = ctx.settings.database_url
    day = to_local(ctx.clock.now()).date().isoformat()
    res = runner.invoke(app, ["ecny", "reconcile", day, "--database-url", url])
    assert res.exit_code == 5 and "状态不符" in res.output, res.output
    res = runner.invoke(app, ["ecny", "resolve", "--older-than", "0", "--database-url", url])
    assert res.exit_code == 0 and "成功 1" in res.output, res.output
    with ctx.db.read() as conn:
        payable = account_id(conn, "canteen", w.canteens["A"], "canteen_payable")
        assert derived_balance(conn, payable) == 1_200
    res = runner.invoke(app, ["ecny", "reconcile", day, "--database-url", url])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["ecny", "reconcile", "2026-13-01", "--database-url", url])
    assert res.exit_code != 0 and res.exit_code != 5
