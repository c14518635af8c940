"""``onecard org …`` drives the same services: output in Chinese, each change audited as
the CLI user, bad input and refusals become the documented exit codes with nothing
changed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from funding.city import BUREAU, OPERATOR_NAME, City, build_city
from onecard.cli import app, exit_code_for
from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.funding import settlement
from onecard.funding.models import Settlement
from onecard.org import admin_cli
from onecard.org.models import Canteen, Unit
from org.orgtools import audits, bad_card_number, card_number, everything

runner = CliRunner()


@pytest.fixture
def city(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> City:
    monkeypatch.setattr(admin_cli, "context_factory", lambda _url: ctx)
    monkeypatch.setenv("COLUMNS", "200")
    return build_city(ctx)


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["org", *args])
    if isinstance(res.exception, OneCardError):
        return exit_code_for(res.exception), res.output + res.exception.message()
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def test_a_county_unit_and_canteen_from_the_command_line(city: City) -> None:
    code, out = run("region", "add", "431002", "北湖区", "--parent", "431000")
    assert code == 0 and "已新建" in out and "区域 431002 北湖区" in out
    acct = card_number("621700002020000")
    code, out = run(
        "unit", "add", "U100", "北湖区教育局", "--region", "431002", "--bank-account", acct
    )
    assert code == 0 and "已新建" in out
    code, out = run(
        "canteen", "add", "C100", "教育局食堂", "--unit", "U100", "--operation", "委托经营",
        "--operator", "郴州好味餐饮", "--windows", "3", "--contract-starts", "2026-01-01",
    )  # fmt: skip
    assert code == 0 and "已新建" in out
    code, out = run("unit", "edit", "北湖区教育局", "--contact", "周敏")
    assert code == 0 and "联系人：— → 周敏" in out
    code, out = run("unit", "list", "--q", "北湖")
    assert code == 0 and "U100" in out and "县直" in out
    code, out = run("canteen", "list", "--unit", "U100")
    assert code == 0 and "C100" in out and "委托经营" in out
    (rec,) = audits(city.ctx, "org_unit_update")
    assert rec["actor"].startswith("cli:") and rec["totals"]["after"] == {"contact": "周敏"}


@pytest.mark.parametrize(
    ("args", "exit_code", "words"),
    [
        (("unit", "add", "U001", "重复代码"), 5, "单位代码「U001」已被使用"),
        (
            ("unit", "add", "U100", "x", "--bank-account", bad_card_number("621700002020000")),
            2,
            "校验位",
        ),
        (("unit", "add", "U100", "x", "--region", "999999"), 3, "未找到区域 999999"),
        (("canteen", "add", "C100", "x", "--unit", "U999"), 3, "未找到单位 U999"),
        (("canteen", "add", "C100", "x", "--unit", "U001", "--operation", "委托经营"), 2, "经营者"),
        (("unit", "edit", "U001", "--phone", "电话"), 2, "联系电话"),
        (("unit", "retire", "U001"), 5, "尚有 2 名在职人员"),
        (("canteen", "retire", "C001"), 5, "消费机 T-A1 尚未停用"),
        (("admin", "grant", "Sa1", "diner"), 2, "角色应为"),
        (("admin", "revoke", "Sa1", "finance"), 3, "授权"),
    ],
)
def test_bad_input_exits_with_its_code_and_changes_nothing(
    city: City, args: tuple[str, ...], exit_code: int, words: str
) -> None:
    before = everything(city.ctx)
    code, out = run(*args)
    assert code == exit_code and words in out, out
    assert everything(city.ctx) == before


def test_administrators_are_granted_and_revoked(city: City) -> None:
    code, out = run("admin", "grant", "UA9", "unit_admin", "--unit", "U003", "--name", "钱进")
    assert code == 0 and "新建人员" in out and "单位管理员·市档案馆" in out
    code, out = run("admin", "list", "--unit", "U003")
    assert code == 0 and "UA9" in out
    code, out = run("admin", "revoke", "UA9", "unit_admin", "--unit", "U003")
    assert code == 0 and "现有角色：无" in out
    assert len(audits(city.ctx, "org_role_revoke")) == 1


def test_a_corrected_operator_account_resends_the_failed_payout(city: City) -> None:
    city.top_up("a1", 1000)
    city.at(date(2026, 2, 3), 12)
    city.pay("a1", "B", amount=1000)
    with city.ctx.db.begin() as conn:
        conn.execute(
            update(Canteen)
            .where(Canteen.id == city.canteens["B"])
            .values(operator_bank_account="6217000000000009990")
        )
    city.at(date(2026, 4, 1), 9)
    settlement.settle_quarter(city.ctx, BUREAU, "2026Q1")
    city.deliver()
    code, out = run("canteen", "retry-payouts", "C002")  # still the unknown account
    assert code == 0 and "已重新发送" in out
    city.deliver()
    right = card_number("621700003030000")
    city.bank.open_outside_account(right, OPERATOR_NAME, 0)
    code, out = run("canteen", "edit", "C002", "--operator-account", right)
    assert code == 0 and "结算付款" in out and "已重新发送" in out
    city.deliver()
    with city.ctx.db.read() as conn:
        status = conn.execute(
            select(Settlement.status).where(Settlement.canteen_id == city.canteens["B"])
        ).scalar_one()
    assert status == "paid" and city.bank.outside_balance(right) == 995


def test_the_information_table_round_trip(city: City, tmp_path: Path) -> None:
    out_file = tmp_path / "全市.xlsx"
    code, out = run("template", str(out_file))
    assert code == 0 and out_file.exists()
    code, out = run("import", str(out_file), "--dry-run")
    assert code == 0 and "试运行（未写入）" in out and "新增单位 0" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("单位名称,单位代码\r\n新单位,U 1\r\n", encoding="utf-8")
    before = everything(city.ctx)
    code, out = run("import", str(bad))
    assert code == 2 and "缺少该列" in out
    assert everything(city.ctx) == before
    with city.ctx.db.read() as conn:
        assert conn.execute(select(Unit.id).where(Unit.code == "U 1")).first() is None
