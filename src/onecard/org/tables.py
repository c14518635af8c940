"""Spreadsheet plumbing shared by the imports: reading Excel / CSV, the header check,
cells, row errors, the result of an import, and writing a filled-in template.

Contract: ``read_sheets`` / ``read_table`` read a whole file (Excel: every sheet, by
name; CSV, UTF-8 with or without BOM, or GBK: one sheet); an unreadable file raises
``ImportRejected``. ``body`` checks that a sheet has the required columns (a missing one
is a row-1 error) and returns its non-empty rows numbered as the spreadsheet shows them
(the header is row 1). Every problem is a ``RowError`` (sheet, row, column, problem in
Chinese); ``rejected`` carries all of them out in one ``ImportRejected``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from onecard.core.errors import ImportRejected
from onecard.core.money import fen_from_yuan
from onecard.core.sheets import csv_row, formula_like, unquote, xlsx_append

# What the preview says about a cell of ``ImportResult.cells``.
CELL_NOTES = {
    "changed": "变更",
    "formula": "以 = + - @ 或制表符、回车开头：按文本保存，导出时作为文本写出，不会被当作公式",
    "unquoted": "去掉了导出时为防公式而加的单引号",
}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    problem: str
    sheet: str = ""  # empty for the first (or only) sheet

    def __str__(self) -> str:
        where = f"「{self.sheet}」表" if self.sheet else ""
        return f"{where}第 {self.row} 行「{self.column}」：{self.problem}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "problem": self.problem,
        }


@dataclass
class ImportResult:
    what: str  # roster | unit_info
    dry_run: bool
    rows: int = 0
    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    leaving: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    # The information table also creates and updates units and canteens themselves.
    units_new: list[dict[str, Any]] = field(default_factory=list)
    units_changed: list[dict[str, Any]] = field(default_factory=list)
    canteens_new: list[dict[str, Any]] = field(default_factory=list)
    canteens_changed: list[dict[str, Any]] = field(default_factory=list)
    # Every cell the import changes in the system (``note`` "changed": old → new), or
    # reads otherwise than the file shows ("unquoted": a CSV cell's protective quote
    # removed), or that starts like a formula ("formula": kept as text, exported as
    # text) — row and column as the spreadsheet shows them.
    cells: list[dict[str, Any]] = field(default_factory=list)

    def note_changes(self, row: int, diff: dict[str, list[Any]], columns: dict[str, str]) -> None:
        for name, (old, new) in diff.items():
            self.cells.append(
                {
                    "row": row,
                    "column": columns.get(name, name),
                    "field": name,
                    "old": old,
                    "new": new,
                    "note": "changed",
                }
            )

    def _org(self) -> list[list[dict[str, Any]]]:
        return [self.units_new, self.units_changed, self.canteens_new, self.canteens_changed]

    @property
    def applied(self) -> bool:
        return not self.dry_run and (
            bool(self.new or self.changed or self.leaving) or any(self._org())
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "what": self.what,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "new": self.new,
            "changed": self.changed,
            "leaving": self.leaving,
            "unchanged": self.unchanged,
            "cells": self.cells,
            "applied": self.applied,
        }
        if self.what == "unit_info":
            out.update(
                units_new=self.units_new,
                units_changed=self.units_changed,
                canteens_new=self.canteens_new,
                canteens_changed=self.canteens_changed,
            )
        return out


def rejected(errors: list[RowError]) -> ImportRejected:
    exc = ImportRejected("；".join(str(e) for e in errors[:20]), count=len(errors))
    exc.rows = errors  # type: ignore[attr-defined]
    return exc


# --- reading files ---------------------------------------------------------------------
def _is_excel(data: bytes, filename: str) -> bool:
    return data[:2] == b"PK" or filename.lower().endswith((".xlsx", ".xlsm"))


def read_sheets(data: bytes, filename: str = "") -> dict[str, list[list[Any]]]:
    """Every sheet's rows by sheet name, in the workbook's order (a CSV is one sheet,
    named ""). Excel cells keep their types (numbers, dates)."""
    if _is_excel(data, filename):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise ImportRejected(f"无法读取 Excel 文件：{exc}", count=1) from None
        sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
        wb.close()
        return sheets
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ImportRejected("文件编码无法识别（请用 UTF-8 或 GBK）", count=1)
    try:
        return {"": [list(r) for r in csv.reader(io.StringIO(text, newline=""), strict=True)]}
    except csv.Error as exc:
        raise ImportRejected(f"CSV 格式错误：{exc}", count=1) from None


def read_table(data: bytes, filename: str = "") -> list[list[Any]]:
    """Rows of the first sheet of an .xlsx, or of a CSV (UTF-8, BOM optional, or GBK)."""
    sheets = read_sheets(data, filename)
    return next(iter(sheets.values()), [])


def cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def header_of(rows: list[list[Any]]) -> list[str]:
    header = [cell_text(h) for h in rows[0]] if rows else []
    while header and not header[-1]:
        header.pop()
    return header


def body(
    rows: list[list[Any]],
    columns: tuple[str, ...],
    optional: tuple[str, ...] = (),
    *,
    sheet: str = "",
    raw: bool = False,
    from_csv: bool = False,
    notes: list[dict[str, Any]] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Check the header; (row number, {column: text}) for each non-empty row, with the
    ``optional`` columns the sheet has. ``raw`` keeps the cells' values (an Excel date
    stays a date) rather than their text.

    A CSV cell we exported with a protective quote (``core.sheets``) is read as the text
    it stands for; that, and every cell starting like a formula, is added to ``notes``.
    """
    if not rows:
        raise rejected([RowError(1, "表头", "文件为空", sheet)])
    header = header_of(rows)
    missing = [c for c in columns if c not in header]
    if missing:
        raise rejected([RowError(1, c, "缺少该列", sheet) for c in missing])
    idx = {c: header.index(c) for c in (*columns, *(o for o in optional if o in header))}
    out = []
    for n, row in enumerate(rows[1:], start=2):
        values = {c: row[i] if i < len(row) else None for c, i in idx.items()}
        texts = {c: cell_text(v) for c, v in values.items()}
        for c, text in texts.items():
            read = unquote(text) if from_csv else text
            if notes is not None and read != text:
                notes.append(_note(n, c, text, read, "unquoted"))
            if notes is not None and formula_like(read):
                notes.append(_note(n, c, read, read, "formula"))
            if read != text:
                texts[c] = read
                values[c] = read
        if any(texts.values()):
            out.append(
                (n, {c: v if v is not None else "" for c, v in values.items()} if raw else texts)
            )
    return out


def _note(row: int, column: str, old: str, new: str, note: str) -> dict[str, Any]:
    return {"row": row, "column": column, "field": "", "old": old, "new": new, "note": note}


def table_body(
    data: bytes, filename: str, columns: tuple[str, ...], res: ImportResult
) -> list[tuple[int, dict[str, Any]]]:
    """The first sheet's rows, its protective quotes and formula-like cells noted in
    ``res.cells``."""
    rows = read_table(data, filename)
    return body(rows, columns, from_csv=not _is_excel(data, filename), notes=res.cells)


def int_cell(text: str, column: str, row: int, errors: list[RowError], hi: int) -> int:
    if text == "":
        return 0
    if not text.isdigit() or int(text) > hi:
        errors.append(RowError(row, column, f"应为 0–{hi} 的整数"))
        return 0
    return int(text)


def money_cell(text: str, column: str, row: int, errors: list[RowError]) -> int:
    if text == "":
        return 0
    try:
        return fen_from_yuan(text)
    except ValueError as exc:
        errors.append(RowError(row, column, str(exc)))
        return 0


# --- writing templates ------------------------------------------------------------------
def yuan_number(fen: int) -> Decimal:
    """Money in a template: a number of yuan (exact, from integer fen), not text — Excel
    sums it; a CSV shows it with two decimals."""
    return Decimal(fen).scaleb(-2)


def xlsx(
    sheets: list[tuple[str, tuple[str, ...], list[list[Any]]]],
    note: str,
    comments: dict[str, str] | None = None,
) -> bytes:
    """A workbook: each (title, columns, rows) a sheet with a bold header, then the
    filling-in notes on their own sheet. ``comments``: a note on a header cell (what to
    write in that column), shown when the cell is pointed at."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    for title, columns, rows in sheets:
        ws = wb.create_sheet(title)
        xlsx_append(ws, columns)
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
            if comments and str(cell.value) in comments:
                cell.comment = Comment(comments[str(cell.value)], "食堂一卡通")
        for r in rows:
            xlsx_append(ws, r)
        for i, c in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(12, len(c) * 2 + 2)
    help_ws = wb.create_sheet("填表说明")
    for line in note.splitlines():
        xlsx_append(help_ws, [line])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(columns: tuple[str, ...], rows: list[list[Any]]) -> bytes:
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(csv_row(columns))
    w.writerows(csv_row(r) for r in rows)
    return out.getvalue().encode("utf-8-sig")
