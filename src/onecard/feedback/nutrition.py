"""The diner's week of nutrition against a reference intake (R-S1).

Contract: ``NUTRIENTS`` names the five figures (the catalogue's per-portion columns,
``catalogue.models.Item``) and ``REFERENCE_DAY`` the reference adult's intake per day in
the same units; ``WeekNutrition`` is a week's totals with the week's reference (× 7)
and the share of it eaten. Pure: the totals are read by ``feedback.dish_queries``.

The reference adult (docs/dishes.md says why): energy 8 400 kJ, protein 60 g, fat
60 g, carbohydrate 300 g — the nutrient reference values (营养素参考值, NRV) of GB
28050-2011, set for a 2 000 kcal adult from the Chinese Dietary Reference Intakes — and
salt 5 g, the adult's daily limit in the Chinese Dietary Guidelines 2022 (《中国居民膳食
指南（2022）》, 准则四: 成年人每天摄入食盐不超过 5 g). Fat and salt are ceilings,
the others targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


def N_(text: str) -> str:
    """Marks a label for the message catalogue; the page translates it."""
    return text


# (catalogue column, label, unit shown); energy in kJ, the rest in milligrams.
NUTRIENTS: tuple[tuple[str, str, str], ...] = (
    ("energy_kj", N_("能量"), "kJ"),
    ("protein_mg", N_("蛋白质"), "g"),
    ("fat_mg", N_("脂肪"), "g"),
    ("carbohydrate_mg", N_("碳水化合物"), "g"),
    ("salt_mg", N_("食盐"), "g"),
)
REFERENCE_DAY: dict[str, int] = {
    "energy_kj": 8_400,
    "protein_mg": 60_000,
    "fat_mg": 60_000,
    "carbohydrate_mg": 300_000,
    "salt_mg": 5_000,
}
CEILINGS = frozenset({"fat_mg", "salt_mg"})  # "no more than": the rest are targets
KJ_PER_KCAL = 4.184


@dataclass(frozen=True)
class WeekNutrition:
    monday: date
    sunday: date
    totals: dict[str, int]  # column → kJ or mg
    lines: int  # dish lines eaten this week
    unknown_lines: int  # of them, items missing a figure (they add nothing)
    portions: int = 0  # Σ qty of those lines

    def rows(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for col, label, unit in NUTRIENTS:
            ref = REFERENCE_DAY[col] * 7
            total = self.totals.get(col, 0)
            scale = 1 if unit == "kJ" else 1000
            out.append(
                {
                    "key": col.removesuffix("_mg"),
                    "label": label,
                    "unit": unit,
                    "total": total if scale == 1 else round(total / scale, 1),
                    "reference": ref // scale,
                    "percent": round(100 * total / ref),
                    "ceiling": col in CEILINGS,
                }
            )
        return out
