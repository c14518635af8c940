"""Form input at the edge: yuan strings typed by people become integer fen here."""

from __future__ import annotations

from onecard.core.errors import InvalidAmount
from onecard.core.money import fen_from_yuan


def parse_yuan(text: str) -> int:
    """'12' → 1200, '12.5' → 1250, '0.01' → 1; anything else (or ≤ 0) is InvalidAmount."""
    try:
        fen = fen_from_yuan(text)
    except ValueError:
        raise InvalidAmount() from None
    if fen <= 0:
        raise InvalidAmount()
    return fen
