"""The whole city from one information table (信息统计表): new units and canteens are
created with their ledger accounts, the rest updated, every change audited; any bad row
on either sheet is reported with its sheet, row and column, and nothing is written."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from onecard.core.context import Context
from onecard.core.errors import ImportRejected
from onecard.funding.models import UnitInfo
from onecard.ledger.models import Account
from onecard.org import imports
from onecard.org.actors import Actor
from onecard.org.info_table import CANTEEN_COLUMNS, UNIT_INFO_TEMPLATE
from onecard.org.models import Canteen, Unit
from org.orgtools import audits, bad_card_number, card_number, everything
from world import World, build_world

BUREAU = Actor.system("bureau")
OPERATOR = card_number("621700005555000")


@pytest.fixture
def w(ctx: Context) -> World:
    return build_world(ctx)


def unit_row(name: str, code: str = "", **kw: Any) -> list[Any]:
    cells = {c: "" for c in UNIT_INFO_TEMPLATE}
    cells.update({"单位名称": name, "单位代码": code, "食堂数量": 0})
    cells.update(kw)
    return [cells[c] for c in UNIT_INFO_TEMPLATE]


def canteen_row(code: str, name: str, unit: str, **kw: Any) -> list[Any]:
    cells = {c: "" for c in CANTEEN_COLUMNS}
    cells.update({"食堂编码": code, "食堂名称": name, "所属单位": unit})
    cells.update(kw)
    return [cells[c] for c in CANTEEN_COLUMNS]


def workbook(units: list[list[Any]], canteens: list[list[Any]] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "信息统计表"
    ws.append(list(UNIT_INFO_TEMPLATE))
    for r in units:
        ws.append(r)
    if canteens is not None:
        cs = wb.create_sheet("食堂")
        cs.append(list(CANTEEN_COLUMNS))
        for r in canteens:
            cs.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def city_file() -> bytes:
    """Three new units (one under a county) and two canteens, one outsourced."""
    return workbook(
        [
            unit_row(
                "市教育局",
                "U101",
                食堂数量=1,
                单位账户=card_number("621700001010000"),
                **{"午餐标准(元)": "12"},
            ),
            unit_row("市交通局", "U102", 单位级别="市直", 联系人="孙丽", 联系电话="0735-1111111"),
            unit_row("市档案馆", "U003", 食堂数量=0, 备注="无食堂"),  # existing: updated
        ],
        [
            canteen_row(
                "C101",
                "教育局机关食堂",
                "U101",
                经营方式="委托经营",
                经营者="郴州好味餐饮有限公司",
                经营者结算账户=OPERATOR,
                座位数=180,
                窗口数=5,
                开放时间="07:00–19:00",
                合同开始日期=date(2026, 1, 1),
                合同结束日期="2027-12-31",
            ),
            canteen_row("C102", "交通局食堂", "市交通局", 经营方式="自营", 地点="解放路 2 号"),
        ],
    )


def test_the_city_from_one_file_creates_units_and_canteens_with_their_accounts(
    ctx: Context, w: World
) -> None:
    data = city_file()
    before = everything(ctx)
    dry = imports.import_unit_info(ctx, BUREAU, data, "全市.xlsx", dry_run=True)
    assert everything(ctx) == before
    assert [u["code"] for u in dry.units_new] == ["U101", "U102"]
    assert [c["code"] for c in dry.canteens_new] == ["C101", "C102"]
    assert dry.canteens_new[1]["unit"] == "市交通局"

    res = imports.import_unit_info(ctx, BUREAU, data, "全市.xlsx")
    assert res.applied
    with ctx.db.read() as conn:
        units = {u.code: u for u in conn.execute(select(Unit.__table__))}
        canteens = {c.code: c for c in conn.execute(select(Canteen.__table__))}
        owners = set(conn.execute(select(Account.owner_kind, Account.owner_id, Account.kind)).all())
        info = conn.execute(
            select(UnitInfo.lunch_fen).where(UnitInfo.unit_id == units["U101"].id)
        ).scalar()
    u101, c101 = units["U101"], canteens["C101"]
    assert (u101.region_id, u101.level, u101.has_canteen, info) == (w.region, "city", True, 1200)
    assert units["U102"].contact == "孙丽" and units["U102"].has_canteen is True
    assert (c101.unit_id, c101.operation, c101.operator_bank_account) == (
        u101.id,
        "outsourced",
        OPERATOR,
    )
    assert (c101.capacity, c101.windows, c101.rollout_status) == (180, 5, "planned")
    assert str(c101.contract_starts) == "2026-01-01" and str(c101.contract_ends) == "2027-12-31"
    assert canteens["C102"].unit_id == units["U102"].id
    for uid in (u101.id, units["U102"].id):
        assert ("unit", uid, "unit_income") in owners and ("unit", uid, "unit_returned") in owners
    assert ("canteen", c101.id, "canteen_payable") in owners
    # Each change is audited with before and after, plus one record for the file.
    assert [r["scope"] for r in audits(ctx, "org_unit_create")] == [
        "单位 U101 市教育局",
        "单位 U102 市交通局",
    ]
    assert len(audits(ctx, "org_canteen_create")) == 2
    (summary,) = audits(ctx, "import_unit_info")
    assert summary["totals"]["units_new"] == 2 and summary["totals"]["canteens_new"] == 2
    # The same file again changes nothing.
    before = everything(ctx)
    again = imports.import_unit_info(ctx, BUREAU, data, "全市.xlsx")
    assert not again.applied and again.unchanged == 3
    assert everything(ctx) == before


def test_rows_that_match_update_only_what_they_fill_in(ctx: Context, w: World) -> None:
    data = workbook(
        [unit_row("市人民医院", "U002", 食堂数量=1, 单位级别="县直")],
        [canteen_row("C002", "人民医院职工食堂", "", 窗口数=8, 地点="")],
    )
    res = imports.import_unit_info(ctx, BUREAU, data, "t.xlsx")
    assert res.units_changed == [
        {"code": "U002", "name": "市人民医院", "changes": {"level": ["city", "county"]}}
    ]
    assert res.canteens_changed == [
        {"code": "C002", "name": "人民医院职工食堂", "changes": {"windows": [0, 8]}}
    ]
    with ctx.db.read() as conn:
        c = conn.execute(select(Canteen.__table__).where(Canteen.code == "C002")).one()
    # Empty cells left the rest as it was (the operator and its account too).
    assert c.operator_name == "郴州湘味餐饮管理有限公司" and c.location == ""
    (rec,) = audits(ctx, "org_canteen_update")
    assert rec["totals"] == {"before": {"windows": 0}, "after": {"windows": 8}}
    (first,) = audits(ctx, "org_unit_info_update")  # the unit's first report
    assert first["totals"]["before"] is None and first["totals"]["after"]["canteens"] == 1
    again = workbook([unit_row("市人民医院", "U002", 食堂数量=1, 服务人员数=9)])
    imports.import_unit_info(ctx, BUREAU, again, "t.xlsx")
    assert audits(ctx, "org_unit_info_update")[1]["totals"] == {
        "before": {"service_staff": 0},
        "after": {"service_staff": 9},
    }


def test_every_bad_row_on_both_sheets_is_reported_and_nothing_is_written(
    ctx: Context, w: World
) -> None:
    data = workbook(
        [
            unit_row("市教育局", "U101", 单位账户=bad_card_number("621700001010000")),  # 2
            unit_row("新单位"),  # 3: new, but no code
            unit_row("市财政局", "U104"),  # 4: a new code with a name in use
            unit_row("市林业局", "U105", 所属区域="火星"),  # 5: unknown region
            unit_row("市林业局", "U106", 食堂数量="两个"),  # 6: duplicate name, bad count
        ],
        [
            canteen_row("C001", "财政局机关食堂", "U101"),  # 2: fine: moves to a new unit
            canteen_row("C201", "无主食堂", "U999"),  # 3: unknown owner unit
            canteen_row("C202", "委托食堂", "U101", 经营方式="委托经营"),  # 4: no operator
            canteen_row(
                "C203", "日期", "U101", 合同开始日期="2027-01-01", 合同结束日期="2026-01-01"
            ),
            canteen_row("C203", "重复编码", "U101"),  # 6: duplicate code in the file
            canteen_row("C204", "坏账户", "U101", 经营者结算账户="12"),  # 7
        ],
    )
    before = everything(ctx)
    with pytest.raises(ImportRejected) as exc:
        imports.import_unit_info(ctx, BUREAU, data, "bad.xlsx")
    got = {(e.sheet, e.row, e.column) for e in exc.value.rows}  # type: ignore[attr-defined]
    assert got == {
        ("", 2, "单位账户"),
        ("", 3, "单位名称"),
        ("", 4, "单位名称"),
        ("", 5, "所属区域"),
        ("", 6, "单位名称"),
        ("", 6, "食堂数量"),
        ("食堂", 3, "所属单位"),
        ("食堂", 4, "经营者"),
        ("食堂", 5, "合同结束日期"),
        ("食堂", 6, "食堂编码"),
        ("食堂", 7, "经营者结算账户"),
    }
    messages = [str(e) for e in exc.value.rows]  # type: ignore[attr-defined]
    assert "第 3 行「单位名称」：系统中没有名为「新单位」的单位（新单位须填写单位代码）" in messages
    assert "「食堂」表第 3 行「所属单位」：系统和本表中都没有单位「U999」" in messages
    assert "第 4 行「单位名称」：「市财政局」已被使用" in messages
    assert everything(ctx) == before


def test_a_unit_admin_updates_their_own_rows_but_creates_nothing(ctx: Context, w: World) -> None:
    ua = Actor("ua", grants=frozenset({("unit_admin", w.units["B"], None)}))
    ok = workbook(
        [unit_row("市人民医院", "U002", 食堂数量=1, 服务人员数=12)],
        [canteen_row("C002", "人民医院职工食堂", "U002", 开放时间="06:30–19:30")],
    )
    assert imports.import_unit_info(ctx, ua, ok, "mine.xlsx").applied
    refused = workbook(
        [
            unit_row("市人民医院", "U002", 单位账户=card_number("621700001010000")),
            unit_row("市财政局", "U001"),
            unit_row("市教育局", "U101"),
        ],
        [
            canteen_row("C002", "人民医院职工食堂", "U002", 经营者结算账户=OPERATOR),
            canteen_row("C301", "新食堂", "U002"),
        ],
    )
    before = everything(ctx)
    with pytest.raises(ImportRejected) as exc:
        imports.import_unit_info(ctx, ua, refused, "x.xlsx")
    problems = {(e.sheet, e.row, e.column): e.problem for e in exc.value.rows}  # type: ignore[attr-defined]
    assert problems == {
        ("", 2, "单位账户"): "只能由机关事务局修改",
        ("", 3, "单位名称"): "无权修改该单位的信息",
        ("", 4, "单位名称"): "无权新增单位（新单位由机关事务局新增）",
        ("食堂", 2, "经营者结算账户"): "只能由机关事务局修改",
        ("食堂", 3, "食堂编码"): "无权新增食堂（新食堂由机关事务局新增）",
    }
    assert everything(ctx) == before


def test_the_template_round_trips_with_its_canteen_sheet(ctx: Context, w: World) -> None:
    data = imports.unit_info_template(ctx)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["信息统计表", "食堂", "填表说明"]
    canteens = wb["食堂"]
    assert [c.value for c in canteens[1]] == list(CANTEEN_COLUMNS)
    assert [canteens.cell(r, 1).value for r in (2, 3)] == ["C001", "C002"]
    # The stored operator account predates the check digit rule: given back unchanged it
    # passes; the file changes nothing but the first report of each unit.
    res = imports.import_unit_info(ctx, BUREAU, data, "t.xlsx")
    assert not res.units_changed and not res.canteens_changed and len(res.new) == 3
    one = load_workbook(io.BytesIO(imports.unit_info_template(ctx, w.units["B"])))
    assert one["信息统计表"].max_row == 2 and one["食堂"].max_row == 2


def test_the_canteen_sheet_carries_the_public_directory_fields(ctx: Context, w: World) -> None:
    """所在区县, 来客就餐 (in words), 来客须知 and 经纬度 import like any canteen field; an
    empty cell leaves the record alone; a bad coordinate is a row error at its column."""
    units = [unit_row("市财政局", "U001")]
    filled = canteen_row(
        "C001",
        "财政局机关食堂",
        "U001",
        所在区县="北湖区",
        来客就餐="来客须预约",
        来客须知="提前一天电话预约",
        经纬度="113.014872，25.770412",
    )
    imports.import_unit_info(ctx, BUREAU, workbook(units, [filled]), "目录.xlsx")
    imports.import_unit_info(
        ctx, BUREAU, workbook(units, [canteen_row("C001", "财政局机关食堂", "U001")]), "空.xlsx"
    )
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                Canteen.district, Canteen.guest_access, Canteen.guest_note, Canteen.coordinates
            ).where(Canteen.code == "C001")
        ).one()
    assert tuple(row) == ("北湖区", "appointment", "提前一天电话预约", "113.014872,25.770412")
    for column, value in (("经纬度", "东经113度"), ("来客就餐", "随便")):
        bad = canteen_row("C001", "财政局机关食堂", "U001", **{column: value})
        with pytest.raises(ImportRejected) as exc:
            imports.import_unit_info(ctx, BUREAU, workbook(units, [bad]), "坏.xlsx")
        got = {(e.sheet, e.row, e.column) for e in exc.value.rows}  # type: ignore[attr-defined]
        assert got == {("食堂", 2, column)}
