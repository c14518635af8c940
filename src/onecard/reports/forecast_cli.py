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
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Annotated

import typer

from onecard.reports.forecast import (
    DEFAULT_MODEL,
    HISTORY_DAYS,
    MODELS,
    backtest,
    mape,
    synthetic_history,
)

app = typer.Typer(help="需求预测 / demand forecast", no_args_is_help=True)

# The synthetic canteen's meals: (code, Monday diners at the start, weekly trend).
MEALS = (("breakfast", 60.0, -0.003), ("lunch", 180.0, 0.004), ("dinner", 40.0, 0.01))


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
    for i, (code, level, trend) in enumerate(MEALS):
        series = synthetic_history(history_from, end, level, trend, seed * 100 + i)
        ours, base = backtest(series, first, end, model)
        all_ours += ours
        all_base += base
        scored = sum(1 for _, a in ours if a > 0)
        typer.echo(f"{code:<10} {scored:>5} {mape(ours):>13.1f}% {mape(base):>10.1f}%")
    overall, naive_overall = mape(all_ours), mape(all_base)
    scored = sum(1 for _, a in all_ours if a > 0)
    typer.echo(f"{'overall':<10} {scored:>5} {overall:>13.1f}% {naive_overall:>10.1f}%")
    typer.echo(f"{len(all_ours)} fits in {time.perf_counter() - began:.1f} s (wall)")
    if not overall < naive_overall:
        typer.echo("the forecast does not beat the naive baseline", err=True)
        raise typer.Exit(1)
