"""The daily reconciliation of offline terminals: applied, refused, duplicates, a gap,
debts, the amounts booked, and ``onecard terminal reconcile``'s exit code."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from onecard.audit.models import AuditEvent
from onecard.cli import app
from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from onecard.terminals.recon import reconcile_day
from terminals.offline_kit import app_client, ledger_ok, signed, till, upload_raw
from world import World, build_world, fund

BUREAU = Actor.system("bureau")


def a_day_offline(ctx: Context) -> World:
    """Terminal A sells four records offline; a1 pays online meanwhile, so the first
    leaves a debt; the second arrives over the limit (refused), the first is sent twice,
    the fourth ahead of the third (which never arrives: a gap)."""
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=1_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        for amount in (400, 200, 200, 200):
            assert sim.sell(w.cards["a1"], amount_fen=amount).result == "approved"
        one, two, _three, four = sim.queue
        paid = pay(ctx, w.terminals["B"], PaymentRequest("b-1", w.cards["a1"], amount_fen=900))
        assert paid.approved
        over = {**two["record"], "amount_fen": 5_000}
        answers = upload_raw(client, w, [one, signed(sim.key, over)])
        assert [a["result"] for a in answers] == ["applied", "refused"]
        assert answers[0]["debt_fen"] == 300
        assert [a["result"] for a in upload_raw(client, w, [copy.deepcopy(one)])] == ["duplicate"]
        assert [a["result"] for a in upload_raw(client, w, [four])] == ["deferred"]
    return w


def test_a_day_with_applied_refused_a_gap_and_a_debt(ctx: Context) -> None:
    w = a_day_offline(ctx)
    day = to_local(ctx.clock.now()).date()
    res = reconcile_day(ctx, BUREAU, day)
    [line] = res.terminals
    assert line.code == w.terminals["A"].code
    assert (line.first_seq, line.last_seq, line.records) == (1, 2, 2)
    assert (line.applied, line.refused, line.duplicates) == (1, {"offline_over_limit": 1}, 1)
    # The record said 400; the purses paid 100 and the rest became a debt: 400 booked.
    assert (line.record_fen, line.booked_fen) == (400, 400)
    assert (line.debts, line.debt_fen, line.debt_recovered_fen) == (1, 300, 0)
    assert line.gap == (3, 3) and line.gap_taken_before is not None
    # The gap is fresh: only the refused record needs a person today.
    assert [(p["kind"], p["seq"]) for p in res.problems] == [("refused", 2)]

    # A day later the missing record is older than the hours-offline limit.
    ctx.clock.advance(hours=25)  # type: ignore[attr-defined]
    later = reconcile_day(ctx, BUREAU, day)
    assert [(p["kind"], p["seq"]) for p in later.problems] == [("refused", 2), ("stale_gap", 3)]
    # Another day saw nothing from the terminal.
    assert reconcile_day(ctx, BUREAU, day - timedelta(days=1)).terminals == []
    with ctx.db.read() as conn:
        runs = conn.execute(
            select(AuditEvent.data).where(AuditEvent.action == "offline_reconcile")
        ).all()
    assert len(runs) == 3
    ledger_ok(ctx)


def test_a_filled_gap_is_no_longer_listed(ctx: Context) -> None:
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=5_000)
    with app_client(ctx) as client:
        sim = till(ctx, w, client)
        sim.cut()
        for _ in range(3):
            assert sim.sell(w.cards["a1"], amount_fen=200).result == "approved"
        first, *later = sim.queue
        assert {a["result"] for a in upload_raw(client, w, later)} == {"deferred"}
        day = to_local(ctx.clock.now()).date()
        assert reconcile_day(ctx, BUREAU, day).terminals[0].gap == (1, 1)
        assert [a["result"] for a in upload_raw(client, w, [first, *later])] == ["applied"] * 3
    res = reconcile_day(ctx, BUREAU, day)
    [line] = res.terminals
    assert (line.gap, line.applied, line.record_fen, line.booked_fen) == (None, 3, 600, 600)
    assert res.problems == []


def test_the_command_exits_5_when_a_line_needs_a_person(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONECARD_SECRET_KEY", ctx.settings.secret_key)
    monkeypatch.setenv("COLUMNS", "200")
    a_day_offline(ctx)
    url = ctx.settings.database_url
    day = to_local(ctx.clock.now()).date()
    runner = CliRunner()
    res = runner.invoke(app, ["terminal", "reconcile", day.isoformat(), "--database-url", url])
    assert res.exit_code == 5, res.output
    assert "记录被拒" in res.output and "缺号超过离线时限" in res.output
    quiet = (day - timedelta(days=1)).isoformat()
    res = runner.invoke(app, ["terminal", "reconcile", quiet, "--database-url", url])
    assert res.exit_code == 0 and "问题 0" in res.output, res.output
    res = runner.invoke(app, ["terminal", "reconcile", "2026-13-01", "--database-url", url])
    assert res.exit_code not in (0, 5)
