"""A report table and its Excel rendering — the one shape every chart's data takes.

Contract: a ``Table`` is a title, column headers and rows of plain values (str, int,
float); columns listed in ``money_cols`` hold integer fen and are written to Excel as
yuan numbers with two decimals (the only conversion, at the edge). ``to_xlsx`` returns
the bytes of a one-sheet workbook (openpyxl) with a bold header row; every cell goes
through ``core.sheets`` (text as text, numbers as numbers). The title and headers are
the Chinese source text (marked ``N_`` where they are written); ``translated(tr, cells)``
is the same table in a page's language — title, headers and the text cells listed in
``cells`` (labels such as "其他单位", never names) through ``tr``; ``note`` (a date, say)
follows the title untranslated.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from onecard.core.sheets import xlsx_append


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    money_cols: set[int] = field(default_factory=set)
    note: str = ""

    @property
    def full_title(self) -> str:
        return f"{self.title} {self.note}" if self.note else self.title

    def translated(self, tr: Callable[[str], str], cells: Collection[str] = ()) -> Table:
        rows = [[tr(v) if isinstance(v, str) and v in cells else v for v in r] for r in self.rows]
        return Table(
            self.key,
            tr(self.title),
            [tr(h) for h in self.headers],
            rows,
            set(self.money_cols),
            self.note,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.full_title,
            "headers": self.headers,
            "rows": self.rows,
        }


def to_xlsx(table: Table) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = table.full_title[:31] or "data"
    xlsx_append(ws, table.headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in table.rows:
        out: list[Any] = []
        for i, v in enumerate(row):
            if i in table.money_cols and isinstance(v, int):
                out.append(v / 100)  # yuan, exact to the fen for any realistic amount
            else:
                out.append(v)
        xlsx_append(ws, out)
    for i in table.money_cols:
        for (cell,) in ws.iter_rows(min_row=2, min_col=i + 1, max_col=i + 1):
            cell.number_format = "0.00"
    for i, header in enumerate(table.headers, 1):
        width = max([len(str(header)), *(len(str(r[i - 1] or "")) for r in table.rows)])
        ws.column_dimensions[get_column_letter(i)].width = min(40, max(10, width * 2))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
