"""Money is an ``int`` of fen (分). This module is the only place that rounds or splits.

Contract:
- ``fee_half_up(total, bp)`` – a fee in basis points of a total, half-up to the fen.
- ``split_largest_remainder(total, weights)`` – parts proportional to weights that sum to
  ``total`` exactly (never 3.33 + 6.66 = 9.99).
- ``yuan(fen)`` – display only, at the edges.
- ``fen_from_yuan(text)`` – what a person types or a spreadsheet holds ("12.5", "1,200")
  to fen, exactly, by string arithmetic (never through a float).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_AMOUNT_FEN = 1_000_000_000  # 10^9 fen = 1,000万元: no single movement is larger


def fee_half_up(total_fen: int, basis_points: int) -> int:
    """``total × bp / 10000`` rounded half-up: 0.5% of 199 fen = 0.995 → 1 fen; of 99 → 0."""
    if total_fen < 0:
        raise ValueError("fee base must not be negative")
    return (total_fen * basis_points * 2 + 10_000) // 20_000


def share_half_up(total_fen: int, percent: int) -> int:
    """``total × percent / 100`` rounded half-up to the fen."""
    return (total_fen * percent * 2 + 100) // 200


def split_largest_remainder(total_fen: int, weights: Sequence[int]) -> list[int]:
    """Split ``total_fen`` in proportion to ``weights``; parts sum to the total exactly.

    Floor every share, then hand the left-over fen to the largest remainders (ties to the
    earliest weight), so the result is deterministic.
    """
    if total_fen < 0:
        raise ValueError("cannot split a negative amount")
    wsum = sum(weights)
    if wsum <= 0:
        raise ValueError("weights must sum to a positive number")
    floors = [total_fen * w // wsum for w in weights]
    rest = total_fen - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(total_fen * weights[i] % wsum), i))
    for i in order[:rest]:
        floors[i] += 1
    assert sum(floors) == total_fen
    return floors


def yuan(fen: int, *, grouped: bool = False) -> str:
    """'¥12.50' style display without the sign symbol: '12.50'; negative keeps its sign.
    ``grouped`` puts thousands separators in (statements): '13,800.00'."""
    sign = "-" if fen < 0 else ""
    f = abs(fen)
    whole = f"{f // 100:,}" if grouped else str(f // 100)
    return f"{sign}{whole}.{f % 100:02d}"


_TYPED_YUAN = re.compile(r"(0|[1-9][0-9]{0,6})(?:\.([0-9]{1,2}))?")


def fen_from_yuan(text: str) -> int:
    """'12' → 1200, '12.5' → 1250, '1,200.00' → 120000, '0.01' → 1; exact, no float.

    Raises ``ValueError`` with a Chinese reason for anything else: not a number, more
    than two decimals, negative, or above ``MAX_AMOUNT_FEN``.
    """
    t = text.strip().replace(",", "").replace("，", "")
    m = _TYPED_YUAN.fullmatch(t)
    if m is None:
        if re.fullmatch(r"-\s*[0-9.]+", t):
            raise ValueError("金额不能为负数")
        if re.fullmatch(r"[0-9]+\.[0-9]{3,}", t):
            raise ValueError("金额最多两位小数")
        if re.fullmatch(r"[0-9]{8,}(\.[0-9]{1,2})?", t):
            raise ValueError("金额过大")
        raise ValueError("应为金额（元，最多两位小数）")
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
