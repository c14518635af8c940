"""Writing spreadsheet cells (Excel and CSV) so that text stays text: the one place every
export goes through, against formula injection (OWASP "CSV Injection").

Contract:
- ``formula_like(text)``: text a spreadsheet could take for a formula — it starts with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — unless it is a plain number
  ("-12.50", "+86"), which a spreadsheet reads as that number and nothing else.
- ``safe_cell(value)`` is the value to write: numbers (int, float, Decimal), booleans,
  dates and None as they are — numbers stay numbers, money as numbers; anything else as
  text, and formula-like text with a single quote in front (OWASP's neutralisation), so
  no spreadsheet program evaluates it and a reader sees the quote.
- ``csv_row(values)`` is a row of ``safe_cell``s for ``csv.writer``.
- ``xlsx_append(ws, values)`` appends a row to an openpyxl sheet: numbers as numbers;
  text as a string cell (openpyxl would otherwise store any text starting with ``=`` as
  a formula); formula-like text keeps its exact characters and gets Excel's own "quote
  prefix" flag (what typing a leading ``'`` in Excel stores): shown and kept as text even
  when someone edits the cell, and read back unchanged by the importer.
- ``unquote(text)`` undoes ``safe_cell`` on text read back from a CSV we wrote (a
  leading quote followed by a formula character), so export → edit → import is
  lossless; importers report every cell it changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_KEEP = (int, float, Decimal, date, datetime, time)


def formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS) and _PLAIN_NUMBER.fullmatch(text) is None


def safe_cell(value: Any) -> Any:
    if value is None or isinstance(value, _KEEP):  # bool is an int
        return value
    text = str(value)
    return "'" + text if formula_like(text) else text


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def xlsx_append(ws: Any, values: Iterable[Any]) -> None:
    """Append one row to ``ws`` (an openpyxl worksheet) with every text cell as text."""
    row = list(values)
    ws.append([v if v is None or isinstance(v, _KEEP) else "" for v in row])
    # The row just appended (``ws.max_row`` scans every cell: quadratic over a sheet).
    r = ws._current_row
    for i, v in enumerate(row, start=1):
        if v is None or isinstance(v, _KEEP):
            continue
        cell = ws.cell(row=r, column=i)
        text = str(v)
        cell.value = text
        cell.data_type = "s"  # never "f": text is never a formula
        if formula_like(text):
            cell.quotePrefix = True


def unquote(text: str) -> str:
    """A CSV cell as we wrote it → the text it stands for."""
    if text.startswith("'") and formula_like(text[1:]):
        return text[1:]
    return text
