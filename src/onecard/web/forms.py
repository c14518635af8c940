"""Form input at the edge: yuan strings typed by people become integer fen here."""

from __future__ import annotations

import re

from onecard.core.errors import InvalidAmount

_YUAN = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,2}))?")


def parse_yuan(text: str) -> int:
    """'12' → 1200, '12.5' → 1250, '0.01' → 1; anything else (or ≤ 0) is InvalidAmount."""
    m = _YUAN.fullmatch(text.strip().replace(",", "").replace("，", ""))
    if m is None:
        raise InvalidAmount()
    fen = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    if fen <= 0:
        raise InvalidAmount()
    return fen
