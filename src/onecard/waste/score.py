"""How a quarter's waste feeds a canteen's quality score (R-R4 → the score bands).

The formula, written once (docs/waste.md repeats it, ``tests/waste/test_score.py`` checks
it by hand):

    grams per diner  g = ⌊ Σ leftover grams ÷ Σ diners ⌋ over the quarter's daily weights
                         of the canteen (diners: approved payments at the canteen that
                         day and meal; a weight whose meal had no payment is left out)
    waste deduction  w = min(20, max(0, g − 50) ÷ 10, rounded down)   1 point per 10 g
                                                                      above 50 g a diner
    notice deduction n = min(10, 5 × waste notices issued to the canteen in the quarter)
    final score        = max(0, assessed − w − n)

No weights recorded means no waste deduction (g is unknown, not zero). The final score is
what ``funding.settlement.record_score`` keeps, so the canteen's existing score bands turn
it into the share paid at the quarter's settlement.
"""

from __future__ import annotations

from dataclasses import dataclass

from onecard.core.context import Context
from onecard.waste import queries

FREE_GRAMS = 50  # a diner's leftovers below this cost no points
GRAMS_PER_POINT = 10
MAX_WASTE_POINTS = 20
POINTS_PER_NOTICE = 5
MAX_NOTICE_POINTS = 10


@dataclass(frozen=True)
class Scored:
    assessed: int
    grams_per_diner: int | None
    waste_points: int
    notices: int
    notice_points: int

    @property
    def final(self) -> int:
        return max(0, self.assessed - self.waste_points - self.notice_points)


def deduction(grams: int, diners: int, notices: int, assessed: int) -> Scored:
    g = grams // diners if diners > 0 else None
    w = 0 if g is None else min(MAX_WASTE_POINTS, max(0, g - FREE_GRAMS) // GRAMS_PER_POINT)
    n = min(MAX_NOTICE_POINTS, POINTS_PER_NOTICE * notices)
    return Scored(assessed, g, w, notices, n)


def quarter_score(ctx: Context, canteen_id: int, quarter: str, assessed: int) -> Scored:
    q = queries.quarter_waste(ctx, canteen_id, quarter)
    return deduction(q.grams, q.diners, q.notices, assessed)
