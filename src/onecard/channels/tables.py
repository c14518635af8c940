"""The tables banks exchange as files: reading CSV or Excel, writing CSV or Excel.

Contract:
- ``read_rows(data, filename)`` gives the cells of the first sheet of an ``.xlsx`` (by
  content or name) or of a CSV (UTF-8 with or without BOM, else GB18030 — Chinese online
  banking exports GBK). A file that is neither raises ``ImportRejected``.
- ``locate(rows, columns)`` finds the header row among the first ``HEADER_SCAN`` rows (a
  bank's Excel export puts a title and the account above it) and maps each wanted field
  to its column by any of its accepted names; a missing column is a row error.
- Cells become values exactly: ``cell_fen`` turns yuan text with two decimals (or an
  Excel number, through its shortest decimal text) into int fen, never via float
  arithmetic; ``cell_day``/``cell_time`` accept Excel date cells or ISO-like text.
- Problems are ``RowProblem`` (row as the spreadsheet shows it, column, problem in
  Chinese); ``rejected(problems)`` makes the one ``ImportRejected`` that carries all of
  them (``exc.rows``), so the caller writes nothing.
- ``write_csv`` writes UTF-8 with BOM and CRLF; ``write_xlsx`` one sheet, optional title
  lines above a bold header, money as exact decimals with two places.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from onecard.core.errors import ImportRejected

HEADER_SCAN = 15
_YUAN_TEXT = re.compile(r"(0|[1-9][0-9]*)\.([0-9]{2})")
_DAY_TEXT = re.compile(r"([0-9]{4})[-/.]?([0-9]{2})[-/.]?([0-9]{2})")
_TIME_TEXT = re.compile(r"([0-9]{2}):?([0-9]{2}):?([0-9]{2})")


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        return f"第 {self.row} 行「{self.column}」：{self.problem}"


def rejected(problems: Sequence[RowProblem]) -> ImportRejected:
    exc = ImportRejected("；".join(str(p) for p in problems[:20]), count=len(problems))
    exc.rows = list(problems)  # type: ignore[attr-defined]
    return exc


def is_xlsx(data: bytes, filename: str = "") -> bool:
    return data[:2] == b"PK" or filename.lower().endswith((".xlsx", ".xlsm"))


def read_rows(data: bytes, filename: str = "") -> list[list[Any]]:
    """Every row of the file's first sheet (Excel) or of the CSV, cells as read."""
    if not data:
        raise rejected([RowProblem(1, "文件", "文件为空")])
    if is_xlsx(data, filename):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise rejected([RowProblem(1, "文件", f"无法读取 Excel 文件：{exc}")]) from None
        try:
            return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
        finally:
            wb.close()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise rejected([RowProblem(1, "文件", "文件编码无法识别（请用 UTF-8 或 GBK）")])
    if "\x00" in text:
        raise rejected([RowProblem(1, "文件", "不是 CSV 或 Excel 文件")])
    try:
        return [list(r) for r in csv.reader(io.StringIO(text, newline=""), strict=True)]
    except csv.Error as exc:
        raise rejected([RowProblem(1, "文件", f"CSV 格式错误：{exc}")]) from None


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def locate(
    rows: list[list[Any]],
    columns: Mapping[str, Sequence[str]],
    optional: Iterable[str] = (),
) -> tuple[int, dict[str, int]]:
    """(index of the header row, {field: column index}); ``columns`` maps each field to
    the names a bank may give it. Raises ``ImportRejected`` when no row has them all."""
    wanted = [f for f in columns if f not in set(optional)]
    best: tuple[int, dict[str, int]] | None = None
    for i, row in enumerate(rows[:HEADER_SCAN]):
        names = [cell_text(c) for c in row]
        found = {
            field: names.index(alias)
            for field, aliases in columns.items()
            for alias in aliases
            if alias in names
        }
        if all(f in found for f in wanted):
            return i, found
        if found and (best is None or len(found) > len(best[1])):
            best = (i, found)
    if best is None:
        raise rejected([RowProblem(1, "表头", "找不到表头行（列名与约定的格式不符）")])
    row_no, found = best
    raise rejected(
        [RowProblem(row_no + 1, columns[f][0], "缺少该列") for f in wanted if f not in found]
    )


def cell_fen(value: Any) -> int:
    """Yuan to fen exactly: text '1050.00' (two decimals) or an Excel number."""
    if isinstance(value, bool):
        raise ValueError("应为金额")
    if isinstance(value, int | float | Decimal):
        try:
            amount = Decimal(str(value)) * 100
        except InvalidOperation:
            raise ValueError(f"金额不正确：{value!r}") from None
        if amount != amount.to_integral_value() or amount <= 0:
            raise ValueError(f"金额应为正数且最多两位小数：{value}")
        return int(amount)
    text = cell_text(value)
    m = _YUAN_TEXT.fullmatch(text)
    if m is None:
        raise ValueError(f"金额应为两位小数的元，如 1050.00：{text!r}")
    fen = int(m.group(1)) * 100 + int(m.group(2))
    if fen <= 0:
        raise ValueError("金额应为正数")
    return fen


def cell_day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = cell_text(value)
    m = _DAY_TEXT.fullmatch(text[:10] if len(text) > 10 and " " in text else text)
    if m is None:
        raise ValueError(f"日期应为 2026-01-08：{text!r}")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValueError(f"日期不存在：{text!r}") from None


def cell_time(value: Any) -> dt.time:
    if isinstance(value, dt.datetime):
        return value.time().replace(microsecond=0)
    if isinstance(value, dt.time):
        return value.replace(microsecond=0)
    text = cell_text(value)
    if " " in text:  # a whole timestamp in the time column
        text = text.rsplit(" ", 1)[1]
    m = _TIME_TEXT.fullmatch(text)
    if m is None:
        raise ValueError(f"时间应为 09:30:00：{text!r}")
    try:
        return dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValueError(f"时间不存在：{text!r}") from None


def decimal_yuan(fen: int) -> Decimal:
    """Exact yuan for a spreadsheet number cell (no float on the way)."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode("utf-8-sig")


def write_xlsx(
    sheet: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: Sequence[str] = (),
    money_columns: Iterable[int] = (),
) -> bytes:
    """One sheet; ``money_columns`` (0-based) hold ``Decimal`` yuan shown as 0.00."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for line in title:
        ws.append([line])
    ws.append(list(header))
    head_row = len(title) + 1
    for cell in ws[head_row]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    money = set(money_columns)
    for row in rows:
        ws.append(list(row))
        if money:
            for c in money:
                ws.cell(row=ws.max_row, column=c + 1).number_format = "0.00"
    for i, name in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, len(name) * 2 + 4)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
