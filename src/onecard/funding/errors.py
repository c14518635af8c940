"""Checking a quarter as the money runs take it (``2026Q1``); the runs' errors are in
``core.errors`` (drawn in its tree).
"""

from __future__ import annotations

import re

from onecard.core.errors import (
    BadQuarter,
)

QUARTER_RE = re.compile(r"(20[0-9]{2})Q([1-4])")


def check_quarter(q: str) -> str:
    if not isinstance(q, str) or not QUARTER_RE.fullmatch(q):
        raise BadQuarter(value=q)
    return q
