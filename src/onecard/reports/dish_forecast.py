"""Dish portions forecast (R-S4, issue 16 §7, "量入下米"): tomorrow's portions of each
dish on the menu, per canteen and meal, with a range.

Contract:

- The history is ``reports.attribution.meal_history``: per meal, the diners per day
  (payments of the meal period, and those with a dish line attributed to the meal by
  their time of day) and each dish's portions per day.
- ``forecast_dish`` (pure): one dish of one meal of one day. Its portions per diner over
  the comparable days before it — the days it was on that meal's menu, of the same kind
  (working day or day off) and, when there are at least ``MIN_SAME_WEEKDAY`` of them, the
  same weekday — weighted ``RECENCY`` per week back (last week 1, the week before 0.75 …):
  ``Σ w·portions / Σ w·diners``. Then ``pre-ordered + per diner × walk-in diners``, where
  walk-in diners = forecast diners − pre-ordering diners (not below zero); the range is
  the same with the diners forecast's 80 % range. The pre-ordered portions are a floor.
  A dish with no comparable day has no forecast (``portions`` None): no number is made
  up. Portions are whole. A comparable day the dish sold nothing counts as zero. The
  history's pick-ups are payments like any other, so the ratio is over all diners and is
  applied to the walk-ins as if they chose like those who pre-ordered (a simplification).
- ``canteen_dish_forecast(ctx, canteen_id, today)``: tomorrow's menu, meal by meal, each
  dish with its pre-ordered portions and its forecast, from the last ``HISTORY_DAYS``
  days (nothing stored). A meal without a diners forecast (under ``MIN_HISTORY_DAYS`` of
  history) has no dish forecasts. A dish forecast needs the menu: a dish counts only on
  the days it was on the menu (``menus.menu_dishes``), and tomorrow's dishes are
  tomorrow's menu. ``dish_portions(ctx, canteen_id, day)``: the same as
  ``{(meal code, dish id): portions}`` for the purchase list (``sourcing.service``).
- ``synthetic_dishes`` / ``backtest_dishes``: the synthetic canteen's dishes for
  ``onecard forecast backtest``, scored against the dish's portions on the same weekday
  last week.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from onecard.catalogue.models import Item
from onecard.core.context import Context
from onecard.menus.queries import menu_day_items, preorder_totals
from onecard.pay.models import MealPeriod
from onecard.reports.attribution import MealHistory, meal_history, windows_of
from onecard.reports.forecast import HISTORY_DAYS, MIN_HISTORY_DAYS, Series, _poisson, fit
from onecard.reports.holidays import is_workday

RECENCY = 0.75  # a comparable day a week further back weighs this much less
MIN_SAME_WEEKDAY = 3  # same-weekday days needed before the other days are left out


# --- the model ----------------------------------------------------------------------------


def comparable_days(
    on_menu: Collection[date], diners: Mapping[date, int], target: date
) -> list[date]:
    """The days before ``target`` the dish was on the menu with diners, of the same kind
    (working day or day off), the same weekday only when there are enough of those."""
    work = is_workday(target)
    kind = [d for d in on_menu if d < target and diners.get(d, 0) > 0 and is_workday(d) == work]
    same = [d for d in kind if d.weekday() == target.weekday()]
    return same if len(same) >= MIN_SAME_WEEKDAY else kind


def weight(d: date, target: date) -> float:
    """``RECENCY`` to the number of whole weeks between ``d`` and the week before ``target``."""
    return float(RECENCY ** (((target - d).days - 1) // 7))


def per_diner(
    diners: Mapping[date, int],
    portions: Mapping[date, int],
    on_menu: Collection[date],
    target: date,
) -> float | None:
    """The dish's recency-weighted portions per diner on the comparable days, or None."""
    days = comparable_days(on_menu, diners, target)
    if not days:
        return None
    num = sum(weight(d, target) * portions.get(d, 0) for d in days)
    den = sum(weight(d, target) * diners[d] for d in days)
    return num / den


@dataclass(frozen=True)
class DishCell:
    preordered: int
    per_diner: float | None  # None: no history, no forecast
    portions: int | None = None
    low: int | None = None
    high: int | None = None


def forecast_dish(
    diners: Mapping[date, int],
    portions: Mapping[date, int],
    on_menu: Collection[date],
    target: date,
    diners_forecast: tuple[float, int, int] | None,
    preorder_diners: int = 0,
    preordered: int = 0,
) -> DishCell:
    """One dish of one meal on ``target`` (see the module's contract): ``diners_forecast``
    is the meal's (forecast, low, high) diners; the pre-ordered portions are a floor."""
    r = per_diner(diners, portions, on_menu, target)
    if r is None or diners_forecast is None:
        return DishCell(preordered, r)
    y, lo, hi = diners_forecast

    def walk_in(n: float) -> int:
        return preordered + round(r * max(0.0, n - preorder_diners))

    mid = walk_in(y)
    return DishCell(preordered, r, mid, min(walk_in(lo), mid), max(walk_in(hi), mid))


# --- the read model -----------------------------------------------------------------------


def canteen_dish_forecast(ctx: Context, canteen_id: int, today: date) -> dict[str, Any]:
    """Tomorrow's menu with each dish's forecast portions, meal by meal (the contract)."""
    target = today + timedelta(days=1)
    start = today - timedelta(days=HISTORY_DAYS)
    windows = windows_of(ctx, canteen_id)
    history = meal_history(ctx, canteen_id, start, today, windows)
    with ctx.db.read() as conn:
        menu = menu_day_items(conn, canteen_id, start, target)
        pre = preorder_totals(conn, canteen_id, target)
        names = dict(
            conn.execute(
                select(MealPeriod.id, MealPeriod.name).where(MealPeriod.canteen_id == canteen_id)
            ).all()
        )
        tomorrow = {(m, i) for (m, i), days in menu.items() if target in days}
        items = {
            int(i): (str(s), str(n))
            for i, s, n in conn.execute(
                select(Item.id, Item.sku, Item.name).where(
                    Item.id.in_({i for _, i in tomorrow} or {-1})
                )
            )
        }
    meals = []
    for w in windows:
        h = history.get(w.id, MealHistory())
        cell = _diners_cell(h.diners, today, target)
        p_diners, p_portions = pre.get(w.code, (0, {}))
        dishes = []
        for item in sorted(i for m, i in tomorrow if m == w.code):
            days = [d for d in menu[(w.code, item)] if d < today]
            dc = forecast_dish(
                h.diners,
                h.portions.get(item, {}),
                days,
                target,
                cell,
                p_diners,
                p_portions.get(item, 0),
            )
            sku, name = items[item]
            dishes.append(
                {
                    "item_id": item,
                    "sku": sku,
                    "name": name,
                    "preordered": dc.preordered,
                    "per_diner": dc.per_diner,
                    "portions": dc.portions,
                    "low": dc.low,
                    "high": dc.high,
                }
            )
        meals.append(
            {
                "id": w.id,
                "code": w.code,
                "name": str(names.get(w.id, w.code)),
                "diners": None
                if cell is None
                else {"diners": round(cell[0]), "low": cell[1], "high": cell[2]},
                "preorder_diners": p_diners,
                "dishes": dishes,
            }
        )
    return {"date": target, "workday": is_workday(target), "meals": meals, "history_from": start}


def _diners_cell(diners: Series, today: date, target: date) -> tuple[float, int, int] | None:
    """The meal's diners forecast for ``target`` as ``reports.forecast`` makes it."""
    if not diners:
        return None
    first = min(diners)
    window = {
        first + timedelta(days=i): diners.get(first + timedelta(days=i), 0)
        for i in range((today - first).days)
    }
    if len(window) < MIN_HISTORY_DAYS:
        return None
    y, lo, hi = fit(window).range(target)
    return y, min(lo, round(y)), max(hi, round(y))


def dish_portions(ctx: Context, canteen_id: int, day: date) -> dict[tuple[str, int], int]:
    """``day``'s forecast portions (forecast the day before) by (meal code, dish id), for
    the dishes that have one."""
    got = canteen_dish_forecast(ctx, canteen_id, day - timedelta(days=1))
    return {
        (str(m["code"]), int(d["item_id"])): int(d["portions"])
        for m in got["meals"]
        for d in m["dishes"]
        if d["portions"] is not None
    }


# --- the synthetic canteen's dishes (the backtest) ----------------------------------------


@dataclass(frozen=True)
class DishSpec:
    """A synthetic dish: the share of a meal's diners who take it, its factor per weekday
    (Monday … Sunday), the weekdays it is on the menu, and its weekly trend."""

    code: str
    share: float
    weekday_factor: tuple[float, ...] = (1.0,) * 7
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    trend_per_week: float = 0.0


# Lunch at the synthetic canteen: a staple everybody takes, a popular dish that sells
# better on Fridays, a fish three days a week, a tofu twice, a vegetable slowly falling out
# of favour, and a noodle only on working days' Mondays and Thursdays.
LUNCH_DISHES = (
    DishSpec("rice", 0.85),
    DishSpec("braised_pork", 0.4, (0.9, 1.0, 1.0, 1.05, 1.35, 1.0, 1.0)),
    DishSpec("steamed_fish", 0.3, weekdays=(0, 2, 4), trend_per_week=0.01),
    DishSpec("mapo_tofu", 0.25, (1.0, 1.2, 1.0, 0.85, 1.0, 1.0, 1.0), weekdays=(1, 3)),
    DishSpec("greens", 0.45, trend_per_week=-0.015),
    DishSpec("noodles", 0.2, weekdays=(0, 3)),
)
PREORDER_SHARE = 0.12  # of a working day's diners who pre-ordered


@dataclass
class DishHistory:
    """The synthetic dishes of one meal: portions and menu days per dish, and per day
    the pre-ordering diners and the portions they pre-ordered per dish."""

    portions: dict[str, Series] = field(default_factory=dict)
    on_menu: dict[str, set[date]] = field(default_factory=dict)
    preorder_diners: Series = field(default_factory=dict)
    preordered: dict[str, Series] = field(default_factory=dict)


def synthetic_dishes(diners: Series, specs: Sequence[DishSpec], seed: int) -> DishHistory:
    """Each day's diners of ``diners`` choose among the day's dishes: each takes a dish
    with its share × weekday factor × trend × ±10 % day-to-day noise (a dish is better
    some days); on working days ``PREORDER_SHARE`` of them pre-ordered what they took.
    A dish is on the menu on its weekdays, and on days off only if it is on every day."""
    rng = random.Random(seed)
    out = DishHistory()
    origin = min(diners) if diners else date(2000, 1, 1)
    for d in sorted(diners):
        work = is_workday(d)
        n = diners[d]
        pre_n = sum(1 for _ in range(n) if rng.random() < PREORDER_SHARE) if work else 0
        out.preorder_diners[d] = pre_n
        for s in specs:
            daily = len(s.weekdays) == 7
            if not (daily or (work and d.weekday() in s.weekdays)):
                continue
            out.on_menu.setdefault(s.code, set()).add(d)
            p = s.share * s.weekday_factor[d.weekday()]
            p *= (1.0 + s.trend_per_week) ** ((d - origin).days / 7.0) * rng.uniform(0.9, 1.1)
            p = min(p, 1.0)
            pre = sum(1 for _ in range(pre_n) if rng.random() < p)
            walk = _binomial(rng, n - pre_n, p)
            out.portions.setdefault(s.code, {})[d] = pre + walk
            out.preordered.setdefault(s.code, {})[d] = pre
    return out


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n > 60:  # a Poisson draw of the same mean, capped: fast and close enough here
        return min(n, _poisson(rng, n * p))
    return sum(1 for _ in range(n) if rng.random() < p)


def backtest_dishes(
    diners: Series, dishes: DishHistory, start: date, end: date
) -> tuple[list[tuple[float, int]], list[tuple[float, int]], list[date]]:
    """Replay [start, end): each day the meal's diners are fitted on the ``HISTORY_DAYS``
    before it, and each dish on that day's menu forecast with ``forecast_dish`` from those
    days and the day's pre-orders. The (forecast, actual) pairs of the model and of the
    naive baseline (the dish's portions on the same weekday last week) are scored on the
    same dish-days: those the dish was also on the menu a week before; the third list is
    each pair's day."""
    days: list[date] = []
    ours: list[tuple[float, int]] = []
    base: list[tuple[float, int]] = []
    d = start
    while d < end:
        first = d - timedelta(days=HISTORY_DAYS)
        window = {
            first + timedelta(days=i): diners.get(first + timedelta(days=i), 0)
            for i in range(HISTORY_DAYS)
        }
        y, lo, hi = fit(window).range(d)
        for code, menu in dishes.on_menu.items():
            last_week = d - timedelta(days=7)
            if d not in menu or last_week not in menu:
                continue
            past = [x for x in menu if first <= x < d]
            cell = forecast_dish(
                window,
                dishes.portions[code],
                past,
                d,
                (y, lo, hi),
                dishes.preorder_diners.get(d, 0),
                dishes.preordered[code].get(d, 0),
            )
            actual = dishes.portions[code][d]
            if cell.portions is None:
                continue
            ours.append((float(cell.portions), actual))
            base.append((float(dishes.portions[code][last_week]), actual))
            days.append(d)
        d += timedelta(days=1)
    return ours, base, days
