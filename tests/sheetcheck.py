"""A check every spreadsheet export must pass: no live formula in any cell.

``assert_no_live_formula(xlsx)`` fails if any sheet of the workbook holds a formula, or
a text cell that starts like one without Excel's quote prefix (``core.sheets``); it
returns every cell value for the caller's own checks.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from openpyxl import load_workbook

from onecard.core.sheets import formula_like


def assert_no_live_formula(xlsx: bytes) -> list[Any]:
    """No cell of any sheet is a formula, every formula-like text cell is a string with
    Excel's quote prefix; returns every cell value (for the caller's own checks)."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name)
                assert b"<f>" not in xml and b"<f " not in xml, name
    values = []
    for ws in load_workbook(io.BytesIO(xlsx)).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and formula_like(cell.value):
                    assert cell.data_type == "s" and cell.quotePrefix, (cell.coordinate, cell.value)
                values.append(cell.value)
    return values
