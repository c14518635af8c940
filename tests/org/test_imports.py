"""Roster and unit-information imports: all rows checked first, every error reported with
row and column in Chinese, nothing written unless the whole file is valid."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.core.errors import ImportRejected
from onecard.funding.models import UnitInfo
from onecard.org import imports
from onecard.org.actors import Actor
from onecard.org.models import Person
from world import World, build_world, fund, purse

BUREAU = Actor.system("bureau")
HEAD = ",".join(imports.ROSTER_COLUMNS)


def csv_bytes(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def people(ctx: Context) -> list[tuple[str, str, str, int]]:
    with ctx.db.read() as conn:
        return [
            (r.staff_no, r.name, r.status, r.standard_fen)
            for r in conn.execute(
                select(Person.staff_no, Person.name, Person.status, Person.standard_fen).order_by(
                    Person.staff_no
                )
            )
        ]


@pytest.fixture
def w(ctx: Context) -> World:
    return build_world(ctx)


def test_roster_dry_run_shows_new_changed_leaving_then_import_applies_it(
    ctx: Context, w: World
) -> None:
    fund(ctx, w, "a2", subsidy=5000, cash=300)
    data = csv_bytes(
        HEAD,
        "Sa1,张伟,U001,在编,13800000001,,600.00,62170000a1",  # phone added
        "S100,陈静,市财政局,合同,,200,,6217000000000100",  # new, 200 yuan a month
    )  # a2 王芳 of U001 is not listed: she is leaving
    before = people(ctx)
    dry = imports.import_roster(ctx, BUREAU, data, "roster.csv", dry_run=True)
    assert people(ctx) == before
    assert [p["staff_no"] for p in dry.new] == ["S100"]
    assert dry.new[0]["standard_fen"] == 60000 and dry.new[0]["category"] == "contract"
    assert [p["staff_no"] for p in dry.changed] == ["Sa1"]
    assert dry.changed[0]["changes"] == {"phone": [None, "13800000001"]}
    assert [p["name"] for p in dry.leaving] == ["王芳"]
    assert not dry.applied

    res = imports.import_roster(ctx, BUREAU, data, "roster.csv")
    assert res.applied and res.leaving[0]["subsidy_returned_fen"] == 5000
    assert ("S100", "陈静", "active", 60000) in people(ctx)
    assert ("Sa2", "王芳", "left", 60000) in people(ctx)
    assert purse(ctx, w, "a2") == (0, 300)  # subsidy back to the unit, cash stays hers
    # The same file again changes nothing.
    again = imports.import_roster(ctx, BUREAU, data, "roster.csv")
    assert not again.applied and again.unchanged == 2
    # Units not named in the file are left alone.
    assert ("Sb1", "李娜", "active", 60000) in people(ctx)


def test_roster_every_error_reported_with_row_and_column_and_nothing_written(
    ctx: Context, w: World
) -> None:
    data = csv_bytes(
        HEAD,
        "S1,,U001,在编,,,600,",  # row 2: no name
        "S2,甲,U999,在编,,,600,",  # row 3: unknown unit
        "S1,乙,U001,处长,,,60.123,",  # row 4: duplicate id, bad category, 3 decimals
        "S4,丙,U001,在编,abc,50,150,12",  # row 5: phone, both standards, card
        "Sb1,李娜,U001,在编,,,,",  # row 6: belongs to another unit
    )
    before = people(ctx)
    with pytest.raises(ImportRejected) as exc:
        imports.import_roster(ctx, BUREAU, data, "bad.csv")
    got = {(e.row, e.column) for e in exc.value.rows}  # type: ignore[attr-defined]
    assert got == {
        (2, "姓名"),
        (3, "单位"),
        (4, "工号"),
        (4, "人员类别"),
        (4, "季度就餐标准(元)"),
        (5, "手机号"),
        (5, "季度就餐标准(元)"),
        (5, "银行卡号"),
        (6, "单位"),
    }
    msg = exc.value.message()
    assert "导入文件有 9 处错误，未写入任何数据" in msg and "第 3 行「单位」" in msg
    assert people(ctx) == before


def test_roster_from_excel_and_missing_columns(ctx: Context, w: World) -> None:
    rows: list[list[object]] = [
        list(imports.ROSTER_COLUMNS),
        ["S200", "周强", "U003", "在编", 13900000000, None, 450, None],
    ]
    res = imports.import_roster(ctx, BUREAU, xlsx_bytes(rows), "名单.xlsx", dry_run=True)
    assert res.new[0]["standard_fen"] == 45000
    # Listing only S200 for U003 means 刘洋 (Sc1) would leave.
    assert [p["staff_no"] for p in res.leaving] == ["Sc1"]
    with pytest.raises(ImportRejected) as exc:
        imports.import_roster(ctx, BUREAU, csv_bytes("工号,姓名"), "x.csv")
    assert (1, "单位") in {(e.row, e.column) for e in exc.value.rows}  # type: ignore[attr-defined]


def test_roster_template_round_trips(ctx: Context, w: World) -> None:
    data = imports.roster_template(ctx, w.units["A"])
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    assert [c.value for c in ws[1]] == list(imports.ROSTER_COLUMNS)
    assert ws.max_row == 3
    res = imports.import_roster(ctx, BUREAU, data, "t.xlsx")
    assert not res.applied and res.unchanged == 2


def test_a_unit_admin_imports_only_its_own_unit(ctx: Context, w: World) -> None:
    admin = Actor("ua", grants=frozenset({("unit_admin", w.units["B"], None)}))
    with pytest.raises(ImportRejected) as exc:
        imports.import_roster(ctx, admin, csv_bytes(HEAD, "S9,某,U001,在编,,,600,"), "x.csv")
    assert "无权" in exc.value.message()


def test_unit_info_template_export_and_import(ctx: Context, w: World) -> None:
    data = imports.unit_info_template(ctx)
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]] == list(imports.UNIT_INFO_TEMPLATE)
    assert [ws.cell(r, 1).value for r in range(2, 5)] == ["市财政局", "市人民医院", "市档案馆"]
    assert "填表说明" in wb.sheetnames
    ws.cell(2, 2, 1)
    ws.cell(2, 3, 12)
    ws.cell(2, 4, 200)
    ws.cell(2, 5, 450)
    ws.cell(2, 6, "3")
    ws.cell(2, 7, 12.5)
    ws.cell(2, 8, "8.00")
    ws.cell(2, 9, "五岭大道1号")
    out = io.BytesIO()
    wb.save(out)
    dry = imports.import_unit_info(ctx, BUREAU, out.getvalue(), "表.xlsx", dry_run=True)
    assert len(dry.new) == 3
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(UnitInfo)).scalar_one() == 0
    res = imports.import_unit_info(ctx, BUREAU, out.getvalue(), "表.xlsx")
    assert res.applied
    with ctx.db.read() as conn:
        row = conn.execute(select(UnitInfo.__table__).where(UnitInfo.unit_id == w.units["A"])).one()
    assert (row.canteens, row.capacity, row.breakfast_fen, row.lunch_fen, row.dinner_fen) == (
        1,
        200,
        300,
        1250,
        800,
    )
    again = imports.import_unit_info(ctx, BUREAU, out.getvalue(), "表.xlsx")
    assert not again.applied and again.unchanged == 3
    # The exported table now carries what was reported; CSV works the same way.
    csv_data = imports.unit_info_csv(ctx)
    assert "12.50" in csv_data.decode("utf-8-sig")
    assert not imports.import_unit_info(ctx, BUREAU, csv_data, "t.csv").applied


def test_unit_info_errors_with_row_and_column(ctx: Context, w: World) -> None:
    head = ",".join(imports.UNIT_INFO_COLUMNS)
    data = csv_bytes(
        head,
        "市财政局,1,x,100,100,3,12,-1,,,,",
        "不存在的单位,0,0,0,0,,,,,,,",
        "市财政局,0,0,0,0,,,,,,,",
    )
    with pytest.raises(ImportRejected) as exc:
        imports.import_unit_info(ctx, BUREAU, data, "t.csv")
    got = {(e.row, e.column) for e in exc.value.rows}  # type: ignore[attr-defined]
    assert got == {(2, "服务人员数"), (2, "晚餐标准(元)"), (3, "单位名称"), (4, "单位名称")}
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(UnitInfo)).scalar_one() == 0


def test_the_roster_template_says_which_standard_each_column_takes(ctx: Context, w: World) -> None:
    """Issue 14 §1: a monthly or a quarterly standard, and the template says which; a
    monthly standard becomes the quarterly one exactly (× 3, in fen, no float)."""
    ws = load_workbook(io.BytesIO(imports.roster_template(ctx))).worksheets[0]
    notes = {c.value: c.comment.text if c.comment else "" for c in ws[1]}
    assert "标准类型：月" in notes["月就餐标准(元)"] and "× 3" in notes["月就餐标准(元)"]
    assert "标准类型：季度" in notes["季度就餐标准(元)"]
    keep = [f"{no},{name},U001,在编,,,600.00," for no, name in (("Sa1", "张伟"), ("Sa2", "王芳"))]
    data = csv_bytes(
        HEAD,
        *keep,
        "S201,月标准,U001,在编,,200.10,,",  # 200.10 a month → 600.30 a quarter
        "S202,季标准,U001,在编,,,600.30,",
        "S203,月标准小数,U001,在编,,0.01,,",
    )
    res = imports.import_roster(ctx, BUREAU, data, "roster.csv", dry_run=True)
    got = {p["staff_no"]: p["standard_fen"] for p in res.new}
    assert got == {"S201": 60030, "S202": 60030, "S203": 3}
    both = csv_bytes(HEAD, *keep, "S204,两个都填,U001,在编,,200,600,")
    with pytest.raises(ImportRejected) as exc:
        imports.import_roster(ctx, BUREAU, both, "roster.csv", dry_run=True)
    assert [(e.row, e.column) for e in exc.value.rows] == [(4, "季度就餐标准(元)")]  # type: ignore[attr-defined]
