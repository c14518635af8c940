"""Spreadsheet formula injection (issue 11, item 4): names and notes that arrive through an
import come back from every export as text, never as a live formula; money stays numbers;
the import preview lists the cells it changed or will keep as text."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from onecard.core.context import Context
from onecard.core.sheets import formula_like
from onecard.core.tables import Table, to_xlsx
from onecard.funding import statements
from onecard.org import imports
from onecard.org.actors import Actor
from onecard.reports import dashboard
from sheetcheck import assert_no_live_formula
from world import World, build_world, fund

BUREAU = Actor.system("test")
NAME = '=HYPERLINK("http://evil.cn","领补贴")'
NOTE = "=cmd|' /C calc'!A0"
ROSTER_HEAD = ",".join(imports.ROSTER_COLUMNS)
INFO_HEAD = ",".join(imports.UNIT_INFO_COLUMNS)


def _csv(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _imported_world(ctx: Context) -> World:
    """The city after a roster renaming 张伟 to NAME and an information table with NOTE."""
    w = build_world(ctx)
    fund(ctx, w, "a1", subsidy=60000)
    roster = _csv(
        ROSTER_HEAD,
        f"Sa1,{_quoted(NAME)},U001,在编,,,600.00,62170000a1",
        "Sa2,王芳,U001,在编,,,600.00,62170000a2",
    )
    imports.import_roster(ctx, BUREAU, roster, "roster.csv")
    info = _csv(INFO_HEAD, f"市财政局,1,12,200,450,3,12.5,8,@SUM(1+1),+1+1,,{_quoted(NOTE)}")
    imports.import_unit_info(ctx, BUREAU, info, "info.csv")
    return w


def test_the_roster_template_gives_the_name_back_as_text(ctx: Context) -> None:
    w = _imported_world(ctx)
    data = imports.roster_template(ctx, w.units["A"])
    values = assert_no_live_formula(data)
    assert NAME in values
    # The money column is a number (yuan), not text.
    assert Decimal("600") in [Decimal(str(v)) for v in values if isinstance(v, int | float)]
    # What comes back in is what went out: nothing changes.
    again = imports.import_roster(ctx, BUREAU, data, "roster.xlsx", dry_run=True)
    assert again.unchanged == 2 and not again.changed
    assert {(c["column"], c["note"]) for c in again.cells} == {("姓名", "formula")}


def test_the_information_table_gives_the_note_back_as_text_in_excel_and_csv(
    ctx: Context,
) -> None:
    _imported_world(ctx)
    values = assert_no_live_formula(imports.unit_info_template(ctx))
    assert NOTE in values and "@SUM(1+1)" in values and "+1+1" in values
    assert 12.5 in values  # lunch standard in yuan: a number
    text = imports.unit_info_csv(ctx).decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert not [c for c in cells if formula_like(c)], cells
    assert "'" + NOTE in cells and "'@SUM(1+1)" in cells and "12.50" in cells
    # The CSV round-trips: the protective quotes are taken off again, nothing changes,
    # and the preview says which cells it read that way.
    back = imports.import_unit_info(ctx, BUREAU, text.encode("utf-8"), "t.csv", dry_run=True)
    assert back.unchanged == 1 and not back.changed  # (the two other units are new rows)
    notes = {(c["row"], c["column"], c["note"]) for c in back.cells}
    assert (2, "备注", "unquoted") in notes and (2, "备注", "formula") in notes
    assert (2, "地点", "unquoted") in notes and (2, "联系人", "unquoted") in notes


def test_the_import_preview_lists_the_cells_it_changes(ctx: Context) -> None:
    w = build_world(ctx)
    data = _csv(
        ROSTER_HEAD,
        f"Sa1,{_quoted(NAME)},U001,在编,,,600.00,6217999900001111",
        "Sa2,王芳,U001,在编,,200.00,,62170000a2",
    )
    dry = imports.import_roster(ctx, BUREAU, data, "roster.csv", dry_run=True)
    got = {(c["row"], c["column"], c["note"], c["old"], c["new"]) for c in dry.cells}
    assert (2, "姓名", "changed", "张伟", NAME) in got
    assert (2, "姓名", "formula", NAME, NAME) in got
    assert (2, "银行卡号", "changed", "62170000a1", "6217999900001111") in got
    assert len(got) == 3  # 王芳: 200 a month is the 600 a quarter she had — unchanged
    assert _name(ctx, w.people["a1"]) == "张伟"  # a preview writes nothing
    assert imports.import_roster(ctx, BUREAU, data, "roster.csv").cells == dry.cells
    assert _name(ctx, w.people["a1"]) == NAME


def _name(ctx: Context, person_id: int) -> str:
    from sqlalchemy import select

    from onecard.org.models import Person

    with ctx.db.read() as conn:
        return str(conn.execute(select(Person.name).where(Person.id == person_id)).scalar_one())


def test_report_tables_and_statements_write_names_as_text_and_money_as_numbers(
    ctx: Context,
) -> None:
    w = _imported_world(ctx)
    table = Table("t", "表", ["姓名", "金额"], [[NAME, -1250], ["-5", 300]], money_cols={1})
    values = assert_no_live_formula(to_xlsx(table))
    assert NAME in values and -12.5 in values and "-5" in values
    doc = statements.person_statement(ctx, w.people["a1"])
    values = assert_no_live_formula(statements.to_xlsx(doc))
    assert NAME in values and 600 in values  # the distribution's credit, in yuan
    chart = dashboard.chart(ctx, "revenue", "2026Q1")
    assert_no_live_formula(to_xlsx(chart))
