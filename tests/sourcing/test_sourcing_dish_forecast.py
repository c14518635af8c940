"""The purchase list takes each planned dish's own forecast portions where it has one
(``reports.dish_forecast``), the meal's forecast diners where not, and portions given in
the plan always (量入下米)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from onecard.catalogue import service as catalogue
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.core.errors import InvalidInput
from onecard.sourcing import service
from onecard.sourcing.service import PlanLine
from reports.dish_history import TODAY, lunch_history
from sourcing.test_sourcing_service import kitchen


def test_each_dish_its_own_forecast_else_the_meals_diners(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, m, ids = kitchen(ctx)
    pork, egg = ids["pork_dish"], ids["egg_dish"]
    monkeypatch.setattr(service, "dish_forecast_portions", lambda ctx, c, d: {("lunch", pork): 37})
    monkeypatch.setattr(service, "forecast_portions", lambda ctx, c, d: {"lunch": 240})
    day = ctx.clock.today() + timedelta(days=1)
    plan = [PlanLine(pork, "lunch"), PlanLine(egg, "lunch"), PlanLine(pork, "dinner", 5)]
    pl = service.purchase_list(ctx, m, w.canteens["A"], day, plan)
    got = [(d.meal, d.portions, d.source) for d in pl.dishes]
    assert got == [("lunch", 37, "dish"), ("lunch", 240, "meal"), ("dinner", 5, "given")]
    pork_line = next(n for n in pl.lines if n.name == "猪五花肉")
    assert pork_line.grams == (37 + 5) * 150
    # Portions given win over a dish forecast.
    pl = service.purchase_list(ctx, m, w.canteens["A"], day, [PlanLine(pork, "lunch", 3)])
    assert [(d.portions, d.source) for d in pl.dishes] == [(3, "given")]
    # A dish without its own forecast in a meal without one: give the portions.
    with pytest.raises(InvalidInput):
        service.purchase_list(ctx, m, w.canteens["A"], day, [PlanLine(egg, "dinner")])


def test_the_real_dish_forecast_fills_the_purchase_list(ctx: Context) -> None:
    w, m, ids = kitchen(ctx)
    cid = w.canteens["A"]
    history = {
        "pork": ids["pork_dish"],
        "tofu": ids["egg_dish"],
        "fish": catalogue.save_dish(ctx, m, cid, catalogue.DishSpec("D3", "清蒸鱼", 1800)),
        "rice": catalogue.save_dish(ctx, m, cid, catalogue.DishSpec("D4", "米饭", 100)),
    }
    lunch_history(ctx, w, history)
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 9, 16, 15, 0)))
    tomorrow = TODAY + timedelta(days=1)
    plan = [PlanLine(ids["pork_dish"], "lunch"), PlanLine(history["fish"], "lunch")]
    pl = service.purchase_list(ctx, m, cid, tomorrow, plan)
    # Pork: 0.5 per diner × 18 walk-ins + 4 pre-ordered = 13; the new fish has no history
    # of its own: the meal's 20 diners.
    assert [(d.portions, d.source) for d in pl.dishes] == [(13, "dish"), (20, "meal")]
    assert next(n for n in pl.lines if n.name == "猪五花肉").grams == 13 * 150
    assert service.dish_forecast_portions(ctx, cid, tomorrow) == {
        ("lunch", ids["pork_dish"]): 13,
        ("lunch", ids["egg_dish"]): 11,
    }
