"""The demand forecast (R-S4): its features, beating "same weekday last week" on a
synthetic canteen with the National Day week, and the read model over real payments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select
from typer.testing import CliRunner

from onecard.cli import app
from onecard.core.context import Context
from onecard.pay.models import MealPeriod, Payment
from onecard.reports.forecast import (
    _one_thread,
    backtest,
    canteen_forecast,
    features,
    fit,
    mape,
    naive,
    synthetic_history,
)
from world import World, build_world

ORIGIN = date(2026, 9, 1)
OFF, SWAP, BACK, TREND = 5, 6, 7, 8  # feature columns


def test_features_mark_holidays_swaps_and_the_first_day_back() -> None:
    holiday = features(date(2026, 10, 1), ORIGIN)  # Thursday, National Day
    assert holiday[OFF] == 1.0 and sum(holiday[1:5]) == 0.0
    saturday_worked = features(date(2026, 10, 10), ORIGIN)
    assert saturday_worked[OFF] == 0.0 and saturday_worked[SWAP] == 1.0
    back = features(date(2026, 10, 8), ORIGIN)  # Thursday after the holiday week
    assert back[BACK] == 1.0 and back[3] == 1.0 and back[OFF] == 0.0
    ordinary = features(date(2026, 9, 16), ORIGIN)  # a Wednesday
    assert ordinary[2:] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 15 / 7]


def test_the_forecast_beats_last_week_over_the_holiday_weeks() -> None:
    series = synthetic_history(date(2026, 5, 25), date(2026, 10, 20), 200.0, 0.004, seed=7)
    ours, base = backtest(series, date(2026, 9, 21), date(2026, 10, 20))
    assert mape(ours) < mape(base)
    # The first day back after the holiday week: last week's Thursday was a holiday.
    window = {
        date(2026, 10, 8) - timedelta(days=i): series[date(2026, 10, 8) - timedelta(days=i)]
        for i in range(1, 85)
    }
    f = fit(window)
    actual = series[date(2026, 10, 8)]
    y, low, high = f.range(date(2026, 10, 8))
    assert abs(y - actual) / actual < 0.15
    assert abs(naive(series, date(2026, 10, 8)) - actual) / actual > 0.5
    assert low <= y <= high and high - low < y  # a range, not a shrug


def _payments(ctx: Context, w: World, days: dict[date, int]) -> None:
    term = w.terminals["A"]
    with ctx.db.begin() as conn:
        lunch = conn.execute(
            select(MealPeriod.id).where(
                MealPeriod.canteen_id == w.canteens["A"], MealPeriod.code == "lunch"
            )
        ).scalar_one()
        rows = [
            {
                "region_id": w.region,
                "terminal_id": term.id,
                "txn_id": f"f-{d.isoformat()}-{i}",
                "request_hash": "x",
                "status": "approved",
                "canteen_id": w.canteens["A"],
                "credential_kind": "card",
                "meal_period_id": lunch,
                "amount_fen": 500,
                "cash_fen": 500,
                "business_date": d,
                "created_at": datetime(d.year, d.month, d.day, 4, 0, tzinfo=UTC).replace(
                    tzinfo=None
                ),
                "response": "{}",
            }
            for d, n in days.items()
            for i in range(n)
        ]
        conn.execute(insert(Payment), rows)


def test_the_read_model_forecasts_tomorrow_from_the_payments(ctx: Context) -> None:
    w = build_world(ctx)
    today = date(2026, 9, 25)  # a Friday, Mid-Autumn (a holiday): tomorrow is Saturday
    history = {
        today - timedelta(days=i): 0 if (today - timedelta(days=i)).weekday() >= 5 else 30
        for i in range(1, 29)
    }
    _payments(ctx, w, {d: n for d, n in history.items() if n})
    got = canteen_forecast(ctx, w.canteens["A"], today, 4)
    assert [d["date"] for d in got["days"]] == [today + timedelta(days=i) for i in range(1, 5)]
    lunch = next(m for m in got["meals"] if m["code"] == "lunch")
    saturday, sunday, monday = lunch["cells"][0], lunch["cells"][1], lunch["cells"][2]
    assert saturday["diners"] <= 1 and sunday["diners"] <= 1
    assert 27 <= monday["diners"] <= 33 and monday["low"] <= monday["diners"] <= monday["high"]
    breakfast = next(m for m in got["meals"] if m["code"] == "breakfast")
    assert breakfast["cells"] == [None] * 4  # no history, no forecast


def test_the_backtest_command_prints_both_mapes() -> None:
    r = CliRunner().invoke(app, ["forecast", "backtest", "--start", "2026-09-28", "--days", "14"])
    assert r.exit_code == 0, r.output
    lines = {ln.split()[0]: ln for ln in r.output.splitlines() if ln.strip()}
    assert {"breakfast", "lunch", "dinner", "overall"} <= set(lines)
    assert lines["overall"].count("%") == 2
    # The dish forecast is scored too, per meal, on working days and overall.
    assert {"dishes:lunch", "dishes:dinner", "dishes:workdays", "dishes"} <= set(lines)
    assert lines["dishes"].count("%") == 2


def test_the_scikit_learn_models_replay_the_same_fortnight_single_threaded() -> None:
    """The comparison of docs/benchmarks.md: PoissonRegressor is the GLM's model (same
    forecasts but for its tiny penalty), the boosted trees also beat last week, and both
    run under the one-thread limit (without it a fit took ~0.5 s on 2 cores)."""
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    series = synthetic_history(date(2026, 5, 25), date(2026, 10, 12), 180.0, 0.004, seed=3)
    start, end = date(2026, 9, 28), date(2026, 10, 12)
    glm, base = backtest(series, start, end, "statsmodels")
    sk, _ = backtest(series, start, end, "sklearn-poisson")
    hgb, _ = backtest(series, start, end, "sklearn-hgb")
    for (a, actual), (b, _) in zip(glm, sk, strict=True):
        assert abs(a - b) <= 0.005 * max(a, 1.0), (a, b, actual)
    assert mape(hgb) < mape(base)
    seen: list[int] = []
    _one_thread(lambda: seen.extend(p["num_threads"] for p in threadpool_info()))()
    assert seen and set(seen) == {1}
