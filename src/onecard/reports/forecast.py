"""Demand forecast (R-S4, "量入下米"): tomorrow's diners per canteen and meal, with a range.

Contract: ``canteen_forecast(ctx, canteen_id, today, days)`` reads the canteen's approved
payments of the last ``HISTORY_DAYS`` days before ``today`` with one GROUP BY (business
date × meal period) — nothing is stored — and forecasts each meal for the next ``days``
days. The pure part (``features``, ``fit``, ``backtest``, ``synthetic_history``) works on
plain ``{date: count}`` series so the backtest and the tests need no database.

The model: a Poisson GLM (statsmodels, log link) of the day's count on
- the weekday of a working day (Monday the base; Tuesday–Friday their own factor),
- a day off (weekend or statutory holiday, from ``reports.holidays``: one factor, so the
  weekends of the window teach it what a holiday looks like),
- a swapped working weekend day (调休),
- the first working day after two or more days off,
- the trend (weeks since the window's start).
The range is the 10th–90th percentile of the fit's own relative errors (on log1p) in the
window applied to the forecast: an empirical 80 % prediction interval.

Why statsmodels: ``onecard forecast backtest`` (a quarter, 273 daily refits, same
features and windows for each model; docs/benchmarks.md, 2026-11-30) gives an overall
MAPE of 22.1 % for this GLM, 22.1 % for scikit-learn's PoissonRegressor (the same model:
forecasts within 0.04 %) and 22.5 % for its HistGradientBoostingRegressor (Poisson loss;
worse on two noise seeds of three, and trees cannot extrapolate the trend), against
178 % for the naive baseline. No model is clearly better, and the GLM is the fastest
(4.5 s against 5.7 s and 14.1 s), needs no thread tuning, shows coefficients a reader can
check, and statsmodels is already the runtime dependency (scikit-learn is a dev one).
``MODELS`` keeps all three for ``onecard forecast backtest --model``; the scikit-learn
ones run single-threaded (``_one_thread``), without which they took minutes.

Diners are approved payments of the meal (a meal period allows one payment per person per
day by default): those made for the meal period, and those priced by dish lines, which
carry no meal period and are attributed to the meal by their time of day
(``reports.attribution``). Each dish's portions are forecast from the same history in
``reports.dish_forecast``.
"""

from __future__ import annotations

import functools
import math
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from onecard.core.context import Context
from onecard.pay.models import MealPeriod
from onecard.reports.attribution import meal_history
from onecard.reports.holidays import holiday_name, is_workday

HISTORY_DAYS = 84  # twelve weeks: long enough for a trend, short enough to follow it
MIN_HISTORY_DAYS = 14  # a meal with less history gets no forecast
Series = dict[date, int]


def features(d: date, origin: date) -> list[float]:
    """The feature row of day ``d`` (``origin``: the window's first day, for the trend)."""
    work = is_workday(d)
    wd = d.weekday()
    prev_off = 0
    p = d - timedelta(days=1)
    while prev_off < 3 and not is_workday(p):
        prev_off += 1
        p -= timedelta(days=1)
    return [
        1.0,
        *(1.0 if work and wd == k else 0.0 for k in range(1, 5)),
        0.0 if work else 1.0,
        1.0 if work and wd >= 5 else 0.0,
        1.0 if work and prev_off >= 2 else 0.0,
        (d - origin).days / 7.0,
    ]


Predictor = Callable[[Sequence[date]], np.ndarray]


def _glm(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.GLM(y, x, family=sm.families.Poisson()).fit()
    return lambda z: np.asarray(res.predict(z), dtype=float)


@functools.cache
def _threads() -> Any:
    """One ``threadpoolctl`` controller over the native thread pools scikit-learn loads
    (its OpenMP, scipy's and numpy's OpenBLAS), built once: building one scans the loaded
    libraries (~3 ms, longer than a fit)."""
    import sklearn.ensemble
    import sklearn.linear_model  # noqa: F401  (load their pools before the scan)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_thread(f: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``f`` with every native pool at one thread. scikit-learn's OpenMP loops (the
    loss, the histograms) and scipy's OpenBLAS (inside L-BFGS-B) each start a thread per
    core; on a window of 84 rows they only hand the cores back and forth, spin-waiting for
    each other: a PoissonRegressor fit took 0.35–0.8 s with both pools at two threads and
    3–5 ms with either at one (2 cores, 2026-11-30; docs/benchmarks.md). Same solver, same
    iterations, same coefficients: only the threads change."""

    @functools.wraps(f)
    def run(*args: Any) -> Any:
        with _threads().limit(limits=1):
            return f(*args)

    return run


def _sk_poisson(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.linear_model import PoissonRegressor

    m = _one_thread(PoissonRegressor(alpha=1e-4, max_iter=1000, fit_intercept=False).fit)(x, y)
    return _one_thread(lambda z: np.asarray(m.predict(z), dtype=float))


def _sk_hgb(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    hgb = HistGradientBoostingRegressor(loss="poisson", max_iter=200, random_state=0)
    m = _one_thread(hgb.fit)(x, y)
    return _one_thread(lambda z: np.asarray(m.predict(z), dtype=float))


MODELS: dict[str, Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "statsmodels": _glm,
    "sklearn-poisson": _sk_poisson,
    "sklearn-hgb": _sk_hgb,
}
DEFAULT_MODEL = "statsmodels"


@dataclass(frozen=True)
class Fitted:
    predict: Predictor
    low: float  # relative error quantiles on log1p: the range is exp(log1p(ŷ)+low)-1
    high: float

    def range(self, d: date) -> tuple[float, int, int]:
        y = float(self.predict([d])[0])
        ly = math.log1p(y)
        return y, max(0, round(math.expm1(ly + self.low))), round(math.expm1(ly + self.high))


def fit(history: Series, model: str = DEFAULT_MODEL) -> Fitted:
    """Fit one meal's daily counts (every day of the window present, zeros included)."""
    days = sorted(history)
    origin = days[0]
    x = np.array([features(d, origin) for d in days])
    y = np.array([history[d] for d in days], dtype=float)
    raw = MODELS[model](x, y)

    def predict(ds: Sequence[date]) -> np.ndarray:
        out: np.ndarray = np.maximum(raw(np.array([features(d, origin) for d in ds])), 0.0)
        return out

    err = np.log1p(y) - np.log1p(predict(days))
    lo, hi = np.quantile(err, [0.1, 0.9])
    return Fitted(predict, float(lo), float(hi))


def naive(history: Series, d: date) -> int:
    """The baseline: the same weekday last week."""
    return history.get(d - timedelta(days=7), 0)


def mape(pairs: Sequence[tuple[float, int]]) -> float:
    """Mean absolute percentage error (%) over the days with diners (a day with none has
    no percentage)."""
    errs = [abs(f - a) / a for f, a in pairs if a > 0]
    return 100.0 * sum(errs) / len(errs) if errs else float("nan")


def backtest(
    series: Series, start: date, end: date, model: str = DEFAULT_MODEL
) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """Replay [start, end) day by day: fit on the ``HISTORY_DAYS`` before each day and
    forecast it. Returns the (forecast, actual) pairs of the model and of the naive
    baseline (score them with ``mape``)."""
    ours: list[tuple[float, int]] = []
    base: list[tuple[float, int]] = []
    d = start
    while d < end:
        window = {
            d - timedelta(days=i): series.get(d - timedelta(days=i), 0)
            for i in range(1, HISTORY_DAYS + 1)
        }
        f = fit(window, model)
        actual = series.get(d, 0)
        ours.append((float(f.predict([d])[0]), actual))
        base.append((float(naive(series, d)), actual))
        d += timedelta(days=1)
    return ours, base


# Relative diners of a working weekday (Monday … Friday) and of a day off.
WEEKDAY_SHAPE = (1.0, 0.97, 0.95, 0.93, 0.82)
OFF_DAY_SHARE = 0.06


def synthetic_history(
    start: date, end: date, level: float, trend_per_week: float, seed: int
) -> Series:
    """A documented synthetic canteen meal for the backtest: ``level`` diners on a Monday
    at ``start``, times the weekday shape, ``OFF_DAY_SHARE`` on days off (weekends and the
    Chinese calendar's holidays), a swapped working weekend day like a Monday, the first
    day after a break 8 % busier, growing by ``trend_per_week`` (relative) each week, with
    Poisson noise and ±6 % day-to-day noise (a meeting, the weather)."""
    rng = random.Random(seed)
    out: Series = {}
    d = start
    while d < end:
        weeks = (d - start).days / 7.0
        if not is_workday(d):
            rate = level * OFF_DAY_SHARE
        else:
            rate = level * (WEEKDAY_SHAPE[d.weekday()] if d.weekday() < 5 else 1.0)
            if not is_workday(d - timedelta(days=1)) and not is_workday(d - timedelta(days=2)):
                rate *= 1.08
        rate *= (1.0 + trend_per_week) ** weeks * rng.uniform(0.94, 1.06)
        out[d] = _poisson(rng, rate)
        d += timedelta(days=1)
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:  # normal approximation: exact sampling is slow for large means
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while k < 1000:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
    return k


# --- the read model -------------------------------------------------------------------


def daily_counts(
    ctx: Context, canteen_id: int, start: date, end: date
) -> dict[int, dict[date, int]]:
    """Diners per meal period per business day in [start, end) (``reports.attribution``)."""
    return {mp: h.diners for mp, h in meal_history(ctx, canteen_id, start, end).items()}


def canteen_forecast(ctx: Context, canteen_id: int, today: date, days: int) -> dict[str, Any]:
    """The next ``days`` days after ``today`` for each meal of the canteen: the day (its
    working-day status and holiday), and per meal the forecast diners with an 80 % range,
    or ``None`` while a meal has under ``MIN_HISTORY_DAYS`` days of history."""
    start = today - timedelta(days=HISTORY_DAYS)
    counts = daily_counts(ctx, canteen_id, start, today)
    with ctx.db.read() as conn:
        meals = conn.execute(
            select(MealPeriod.id, MealPeriod.code, MealPeriod.name)
            .where(MealPeriod.canteen_id == canteen_id)
            .order_by(MealPeriod.starts)
        ).all()
    ahead = [today + timedelta(days=i) for i in range(1, days + 1)]
    out_meals = []
    for m in meals:
        c = counts.get(int(m.id), {})
        cells: list[dict[str, int] | None] = [None] * len(ahead)
        if c:
            first = min(c)  # a canteen that went live inside the window starts there
            window = {
                first + timedelta(days=i): c.get(first + timedelta(days=i), 0)
                for i in range((today - first).days)
            }
            if len(window) >= MIN_HISTORY_DAYS:
                f = fit(window)
                for i, d in enumerate(ahead):
                    y, lo, hi = f.range(d)
                    cells[i] = {
                        "diners": round(y),
                        "low": min(lo, round(y)),
                        "high": max(hi, round(y)),
                    }
        out_meals.append({"id": int(m.id), "code": m.code, "name": m.name, "cells": cells})
    return {
        "days": [{"date": d, "workday": is_workday(d), "holiday": holiday_name(d)} for d in ahead],
        "meals": out_meals,
        "history_from": start,
    }
