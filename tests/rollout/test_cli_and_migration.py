"""``onecard rollout …`` end to end, and migration 0009's mapping of today's terminals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from onecard.core.context import Context
from onecard.org import builders as b
from onecard.pay.service import authenticate_terminal
from pay.test_card_cli import run
from world import build_world


def test_a_canteen_from_plan_to_live_by_the_cli(
    ctx: Context, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    w = build_world(ctx)
    with ctx.db.begin() as conn:
        b.create_canteen(
            conn, w.region, w.units["C"], "C009", "档案馆食堂", rollout_status="planned", windows=1
        )
    code, out = run(ctx, capsys, "rollout", "plan", "C009")
    assert code == 0 and "C009-T01" in out, out
    assert run(ctx, capsys, "rollout", "plan", "--show")[0] == 0
    assert run(ctx, capsys, "rollout", "live", "C009-T01")[0] == 5  # planned: illegal
    code, out = run(ctx, capsys, "rollout", "install", "C009-T01")
    key = re.search(r"device key \(只显示这一次\): (\S+)", out)
    assert code == 0 and key, out
    assert run(ctx, capsys, "rollout", "accept", "C009-T01", "--note", "试刷通过")[0] == 0
    assert run(ctx, capsys, "rollout", "live", "C009-T01")[0] == 0
    assert authenticate_terminal(ctx, "C009-T01", key.group(1)).canteen_id
    code, out = run(ctx, capsys, "rollout", "canteen-live", "C009")
    assert code == 5 and "尚无通过的验收检查" in out, out
    code, out = run(ctx, capsys, "rollout", "inspect", "C009", "--fail", "价目未公示")
    assert code == 0 and "未通过" in out
    assert run(ctx, capsys, "rollout", "inspect", "C009", "--date", "3月1日")[0] == 2
    code, out = run(ctx, capsys, "rollout", "inspect", "C009", "--date", "2026-03-01")
    assert code == 0 and "已验收检查" in out, out
    assert run(ctx, capsys, "rollout", "canteen-live", "C009")[0] == 0
    code, out = run(ctx, capsys, "rollout", "progress")
    assert code == 0 and "全市" in out and "100.0%" in out
    assert run(ctx, capsys, "rollout", "notice", "U003", "请尽快完成验收", "--kind", "urge")[0] == 0
    assert run(ctx, capsys, "rollout", "notice", "U999", "x")[0] == 3
    assert run(ctx, capsys, "rollout", "notice", "U003", "x", "--kind", "scold")[0] == 2
    xlsx = tmp_path / "behind.xlsx"
    assert run(ctx, capsys, "rollout", "behind", "--xlsx", str(xlsx))[0] == 0
    notes = list(load_workbook(xlsx)["督办与表扬通知"].iter_rows(values_only=True))
    assert notes[1][1:5] == ("U003", "市档案馆", "督办", "请尽快完成验收")
    assert run(ctx, capsys, "rollout", "revoke", "C009-T01")[0] == 0
    assert run(ctx, capsys, "rollout", "revoke", "C009-T01")[0] == 5  # revoked: final


def test_0009_makes_todays_active_terminals_live_and_installed_canteens_planned(
    ctx: Context,
) -> None:
    from alembic import command

    from onecard.migrations.runner import alembic_config

    build_world(ctx)  # terminals T-A1, T-B1 (live), canteens live
    command.downgrade(alembic_config(ctx.db.engine), "0007")
    try:
        with ctx.db.engine.begin() as conn:
            assert set(conn.execute(text("SELECT status FROM terminals")).scalars()) == {"active"}
            conn.execute(
                text("UPDATE canteens SET rollout_status = 'installed' WHERE code = 'C002'")
            )
    finally:
        command.upgrade(alembic_config(ctx.db.engine), "head")
    with ctx.db.engine.begin() as conn:
        assert set(conn.execute(text("SELECT status FROM terminals")).scalars()) == {"live"}
        states = dict(conn.execute(text("SELECT code, rollout_status FROM canteens")).all())
        assert states == {"C001": "live", "C002": "planned"}
        with pytest.raises(Exception, match=r"(?i)check"), conn.begin_nested():
            conn.execute(text("UPDATE terminals SET status = 'active'"))
        with pytest.raises(Exception, match=r"(?i)check"), conn.begin_nested():
            conn.execute(text("UPDATE canteens SET rollout_status = 'installed'"))
