"""``onecard`` as a process sees it (``cli.main``): the exit codes the docs promise, and
the words a person reads. CliRunner's standalone mode would hide a dropped exit code, so
these call ``main()`` itself."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from funding.city import BUREAU, City, build_city
from onecard import cli, cli_kit
from onecard.core.context import Context
from onecard.funding import notices

DAY = date(2026, 1, 8)


@pytest.fixture
def city(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> City:
    monkeypatch.setattr(cli_kit, "context_factory", lambda _url: ctx)
    monkeypatch.setenv("COLUMNS", "200")
    c = build_city(ctx)
    c.at(date(2026, 1, 2))
    notices.issue_notices(ctx, BUREAU, "2026Q1")
    c.at(DAY, 10)
    c.unit_pays("A", 105000, "JF-U001-2026Q1")
    return c


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["onecard", *args])
    try:
        cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_reconcile_exits_5_while_a_line_needs_a_person(
    city: City, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The unit's payment is on the statement but not booked yet: bank-only.
    assert run_main(monkeypatch, "funding", "reconcile", "2026-01-08") == 5
    out = capsys.readouterr().out
    assert "银行有、系统无" in out and "已处理过" not in out and "完成" in out
    notices.import_receipts(city.ctx, BUREAU, DAY)
    assert run_main(monkeypatch, "funding", "reconcile", "2026-01-08") == 0
    out = capsys.readouterr().out
    assert "完成" in out and "已处理过" not in out  # a new result for the day
    assert run_main(monkeypatch, "funding", "reconcile", "2026-01-08") == 0
    assert "已处理过，本次无变化" in capsys.readouterr().out


def test_distribute_exits_5_when_a_unit_is_short(
    city: City, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    notices.import_receipts(city.ctx, BUREAU, DAY)
    notices.transfer_to_income(city.ctx, BUREAU)
    city.deliver()
    # Unit A paid; B and C paid nothing: they are short, A is paid.
    assert run_main(monkeypatch, "funding", "distribute", "2026Q1") == 5
    assert city.purse("a1") == (60000, 0) and city.purse("b1") == (0, 0)
    assert "超过该单位已拨入未分配的 0.00 元" in capsys.readouterr().out
    assert run_main(monkeypatch, "funding", "distribute", "2026Q1", "--unit", "U001") == 0


def test_an_error_still_exits_with_its_code(
    city: City, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, "funding", "reconcile", "not-a-day") == 2
    assert "日期应为" in capsys.readouterr().out


def test_the_bank_commands_with_the_file_exchange(
    city: City,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """`onecard bank statement | batch | returns`: the finance office's day."""
    from onecard.channels.files import FileExchangeBank

    online = city.bank
    city.ctx.bank = FileExchangeBank(city.ctx.db, city.ctx.clock)
    stmt = tmp_path / "明细.xlsx"
    stmt.write_bytes(online.statement_xlsx(DAY))
    assert run_main(monkeypatch, "funding", "receipts", "2026-01-09") == 3  # not read yet
    assert "尚未读入 2026-01-09 的银行对账单" in capsys.readouterr().out
    assert run_main(monkeypatch, "bank", "statement", str(stmt)) == 0
    out = capsys.readouterr().out
    assert "完成" in out and "已匹配 1" in out
    assert run_main(monkeypatch, "bank", "statement", str(stmt)) == 0
    assert "已处理过，本次无变化" in capsys.readouterr().out
    notices.transfer_to_income(city.ctx, BUREAU)
    batch = tmp_path / "批量转账.csv"
    assert run_main(monkeypatch, "bank", "batch", "-o", str(batch)) == 0
    assert "1 笔，合计 1050.00 元" in capsys.readouterr().out
    assert run_main(monkeypatch, "bank", "batch", "-o", str(batch)) == 0
    assert "没有等待发送的指令" in capsys.readouterr().out
    returns = tmp_path / "结果.csv"
    returns.write_bytes(online.process_batch_file(batch.read_bytes(), batch.name))
    assert run_main(monkeypatch, "bank", "returns", str(returns)) == 0
    assert "成功 1" in capsys.readouterr().out
    # The bank's other answer for the same order: a person must look (exit 5).
    returns.write_text(
        returns.read_text(encoding="utf-8-sig").replace(",成功,,", ",失败,账户冻结,"),
        encoding="utf-8-sig",
    )
    assert run_main(monkeypatch, "bank", "returns", str(returns)) == 5
    assert "请与银行核实" in capsys.readouterr().out
