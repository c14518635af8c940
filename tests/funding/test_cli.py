"""``onecard funding …`` drives the same runs: dry runs write nothing, output is Chinese,
errors become the documented exit codes, and a repeated run reports no change."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from funding.city import City, build_city
from onecard import cli_kit
from onecard.cli import app, exit_code_for
from onecard.core.context import Context
from onecard.core.errors import BadQuarter, ImportRejected, OneCardError

runner = CliRunner()


@pytest.fixture
def city(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> City:
    monkeypatch.setattr(cli_kit, "context_factory", lambda _url: ctx)
    monkeypatch.setenv("COLUMNS", "200")
    return build_city(ctx)


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["funding", *args])
    if isinstance(res.exception, OneCardError):
        return exit_code_for(res.exception), res.output
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def test_a_quarter_through_the_cli(city: City, tmp_path: Path) -> None:
    city.at(date(2026, 1, 2))
    code, out = run("notices", "2026Q1", "--dry-run")
    assert code == 0 and "试运行（未写入）" in out and "应缴 2550.00 元" in out
    code, out = run("notices", "2026Q1")
    assert code == 0 and "JF-U002-2026Q1" in out and "完成" in out
    code, out = run("notices", "2026Q1")
    assert "已处理过，本次无变化" in out

    city.at(date(2026, 1, 8), 10)
    for u, amt in (("A", 105000), ("B", 120000), ("C", 30000)):
        city.unit_pays(u, amt, f"JF-{city.unit_codes[u]}-2026Q1")
    statement = tmp_path / "stmt.csv"
    statement.write_bytes(city.bank.statement_file(date(2026, 1, 8)))
    code, out = run("receipts", "2026-01-08", "--file", str(statement))
    assert code == 0 and "新增 3" in out
    code, out = run("transfer")
    assert code == 0 and "金额 2550.00 元" in out
    city.deliver()
    code, out = run("status", "2026Q1")
    assert code == 0 and out.count("已足额") == 3

    code, out = run("distribute", "2026Q1", "--dry-run")
    assert code == 0 and "试运行" in out
    assert city.purse("a1") == (0, 0)
    code, out = run("distribute", "2026Q1")
    assert code == 0 and city.purse("a1") == (60000, 0)
    code, out = run("distribute", "2026Q1", "--unit", "U001")
    assert code == 0 and "已处理过，本次无变化" in out

    city.lunch("c1", "B", date(2026, 2, 3))
    code, out = run("quality-rule", "C002", "90:100,80:98,0:95")
    assert code == 0 and "≥80 分付 98.00%" in out
    code, out = run("settle", "2026Q1", "--dry-run")
    assert code == 5 or "尚未录入考核分数" in out
    code, out = run("score", "C002", "2026Q1", "85")
    assert code == 0
    city.at(date(2026, 4, 1), 10)
    code, out = run("settle", "2026Q1")
    # 600 gross: fee 3; 98 % of 597 = 585.06 → 585; 12 withheld.
    assert code == 0 and "实付 5.85 元" in out and "系统管理费 0.03 元" in out

    pdf = tmp_path / "b.pdf"
    code, out = run("statement", "canteen", "C002", "2026Q1", "--out", str(pdf))
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF") and "实付金额（元）：5.85" in out
    xlsx = tmp_path / "u.xlsx"
    code, _ = run("statement", "unit", "U003", "2026Q1", "-o", str(xlsx))
    assert code == 0 and xlsx.read_bytes()[:2] == b"PK"
    code, _ = run("statement", "person", "Sc1", "2026", "-o", str(tmp_path / "p.pdf"))
    assert code == 0

    code, out = run("reconcile", "2026-01-08")
    assert code == 0 and "金额不符 0" in out
    code, out = run("audit", "--action", "settle")
    assert code == 0 and "cli:" in out

    city.at(date(2027, 1, 2), 9)  # after the year's last quarter, which is settled first
    for q in ("2026Q2", "2026Q3", "2026Q4"):
        assert run("settle", q)[0] == 0
    code, out = run("year-end", "2026", "--dry-run")
    assert code == 0 and "市财政局" in out and city.purse("a1") == (60000, 0)
    code, out = run("year-end", "2026")
    assert code == 0 and city.purse("a1") == (0, 0)
    city.verified()


def test_bad_input_gives_clear_errors_and_exit_codes(city: City, tmp_path: Path) -> None:
    before = city.snapshot()
    res = runner.invoke(app, ["funding", "notices", "2026Q5"])
    assert isinstance(res.exception, BadQuarter)
    assert exit_code_for(res.exception) == 2
    assert "季度格式应为 2026Q1" in res.exception.message()
    code, _ = run("distribute", "2026Q1", "--unit", "U999")
    assert code == 3
    code, _ = run("statement", "canteen", "C002", "2026Q1", "-o", str(tmp_path / "x.txt"))
    assert code == 3  # no settlement yet: not found
    code, _ = run("quality-rule", "C002", "90:100")
    assert code == 2  # no band from 0
    bad = tmp_path / "roster.csv"
    bad.write_text(
        "工号,姓名,单位,人员类别,手机号,月就餐标准(元),季度就餐标准(元),银行卡号\nX1,,U001,,,,,\n"
    )
    res = runner.invoke(app, ["funding", "roster-import", str(bad)])
    assert isinstance(res.exception, ImportRejected)
    assert "第 2 行「姓名」" in res.output
    assert city.snapshot() == before


def test_roster_and_unit_info_through_the_cli(city: City, tmp_path: Path) -> None:
    tpl = tmp_path / "roster.xlsx"
    code, _ = run("roster-template", str(tpl), "--unit", "U003")
    assert code == 0
    code, out = run("roster-import", str(tpl), "--dry-run")
    assert code == 0 and "无变化 1" in out
    info = tmp_path / "info.csv"
    code, _ = run("unit-info-template", str(info))
    text = info.read_bytes().decode("utf-8-sig").replace("市档案馆,,,", "市档案馆,0,0,")
    info.write_bytes(text.encode("utf-8-sig"))
    code, out = run("unit-info-import", str(info), "--dry-run")
    assert code == 0 and "新增 3" in out
    code, out = run("unit-info-import", str(info))
    assert code == 0 and "已导入" in out


def test_leave_refund_and_send_orders(city: City) -> None:
    city.at(date(2026, 2, 1), 9)
    city.top_up("b2", 1500)
    code, _ = run("refund-cash", "Sb2")
    assert code == 5  # person_not_left: cash is refunded only to leavers
    code, out = run("leave", "Sb2", "--on", "2026-02-01")
    assert code == 0 and "完成" in out
    code, out = run("refund-cash", "Sb2", "--dry-run")
    assert code == 0 and "现金余额 15.00 元" in out and city.purse("b2") == (0, 1500)
    city.bank.fail_next(1)  # the bank is down: the order waits
    code, out = run("refund-cash", "Sb2")
    assert code == 0 and "待重发" in out and city.purse("b2") == (0, 0)
    code, out = run("send-orders")
    assert code == 0 and "待处理指令 1 条" in out
    city.deliver()
    assert city.bank.outside_balance("62170000b2") == 100_000
    code, _ = run("leave", "S404")
    assert code == 3
    city.verified()
