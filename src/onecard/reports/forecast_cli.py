"""``onecard forecast backtest``: how well the demand forecast (``reports.forecast``)
would have done over a quarter, against the naive "same weekday last week".

Contract: replays [``--start``, ``--start`` + ``--days``) day by day — each day fitted
on the ``HISTORY_DAYS`` before it and forecast — for each meal of a synthetic canteen,
and prints the MAPE per meal and overall (pooled), for the model and the baseline. It
exits 1 if the forecast does not beat the baseline overall, and prints the wall time of
the replay (the fits). The history is synthetic
(``reports.forecast.synthetic_history``: weekday shape, the Chinese calendar's holidays
and swapped working days, a trend, Poisson and day-to-day noise) because the demo city
has only a few days of payments; it reads and writes no database.

It also scores the dish forecast (``reports.dish_forecast``): lunch and dinner each get
the synthetic dishes ``LUNCH_DISHES`` (``synthetic_dishes``: different popularity,
weekday effects, menu days, trends and pre-orders), and every dish-day the dish was on
the menu this week and last is forecast and scored against the dish's portions on the
same weekday last week (rows ``dishes:<meal>`` and ``dishes``; ``dishes:workdays``: only
the days that were working days this week and last, where last week is a fair guess). It
exits 1 if the dish forecast does not beat that baseline overall.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Annotated

import typer

from onecard.reports.dish_forecast import LUNCH_DISHES, backtest_dishes, synthetic_dishes
from onecard.reports.forecast import (
    DEFAULT_MODEL,
    HISTORY_DAYS,
    MODELS,
    backtest,
    mape,
    synthetic_history,
)
from onecard.reports.holidays import is_workday

app = typer.Typer(help="需求预测 / demand forecast", no_args_is_help=True)

# The synthetic canteen's meals: (code, Monday diners at the start, weekly trend).
MEALS = (("breakfast", 60.0, -0.003), ("lunch", 180.0, 0.004), ("dinner", 40.0, 0.01))
DISH_MEALS = ("lunch", "dinner")  # the meals whose dishes are scored


@app.command("backtest")
def backtest_cmd(
    start: Annotated[str, typer.Option(help="季度首日 first day replayed")] = "2026-09-01",
    days: Annotated[int, typer.Option(min=7, max=366, help="天数 days replayed")] = 91,
    model: Annotated[str, typer.Option(help=f"模型 one of {', '.join(MODELS)}")] = DEFAULT_MODEL,
    seed: Annotated[int, typer.Option(help="随机种子 noise seed")] = 1,
) -> None:
    """回放一个季度并打印 MAPE / replay a quarter and print the MAPE against the baseline."""
    if model not in MODELS:
        raise typer.BadParameter(f"unknown model {model}")
    first = date.fromisoformat(start)
    end = first + timedelta(days=days)
    history_from = first - timedelta(days=HISTORY_DAYS + 7)
    all_ours: list[tuple[float, int]] = []
    all_base: list[tuple[float, int]] = []
    began = time.perf_counter()
    typer.echo(f"synthetic canteen, {first} .. {end - timedelta(days=1)}, model {model}")
    typer.echo(f"{'meal':<10} {'days':>5} {'forecast MAPE':>14} {'naive MAPE':>11}")
    dish_rows: list[tuple[str, list[tuple[float, int]], list[tuple[float, int]], list[date]]] = []
    for i, (code, level, trend) in enumerate(MEALS):
        series = synthetic_history(history_from, end, level, trend, seed * 100 + i)
        ours, base = backtest(series, first, end, model)
        if code in DISH_MEALS:
            dishes = synthetic_dishes(series, LUNCH_DISHES, seed * 100 + 10 + i)
            dish_rows.append((code, *backtest_dishes(series, dishes, first, end)))
        all_ours += ours
        all_base += base
        scored = sum(1 for _, a in ours if a > 0)
        typer.echo(f"{code:<10} {scored:>5} {mape(ours):>13.1f}% {mape(base):>10.1f}%")
    overall, naive_overall = mape(all_ours), mape(all_base)
    scored = sum(1 for _, a in all_ours if a > 0)
    typer.echo(f"{'overall':<10} {scored:>5} {overall:>13.1f}% {naive_overall:>10.1f}%")
    typer.echo(f"{'dish-days':<16} {'scored':>6} {'forecast MAPE':>14} {'naive MAPE':>11}")
    dish_ours: list[tuple[float, int]] = []
    dish_base: list[tuple[float, int]] = []
    work_ours: list[tuple[float, int]] = []
    work_base: list[tuple[float, int]] = []

    def row(label: str, ours: list[tuple[float, int]], base: list[tuple[float, int]]) -> None:
        n = sum(1 for _, a in ours if a > 0)
        typer.echo(f"{label:<16} {n:>6} {mape(ours):>13.1f}% {mape(base):>10.1f}%")

    for code, ours, base, when in dish_rows:
        dish_ours += ours
        dish_base += base
        for o, b, d in zip(ours, base, when, strict=True):
            if is_workday(d) and is_workday(d - timedelta(days=7)):
                work_ours.append(o)
                work_base.append(b)
        row(f"dishes:{code}", ours, base)
    row("dishes:workdays", work_ours, work_base)
    row("dishes", dish_ours, dish_base)
    dish_overall, dish_naive = mape(dish_ours), mape(dish_base)
    typer.echo(f"{len(all_ours)} meal-days in {time.perf_counter() - began:.1f} s (wall)")
    if not overall < naive_overall:
        typer.echo("the forecast does not beat the naive baseline", err=True)
        raise typer.Exit(1)
    if not dish_overall < dish_naive:
        typer.echo("the dish forecast does not beat the naive baseline", err=True)
        raise typer.Exit(1)
