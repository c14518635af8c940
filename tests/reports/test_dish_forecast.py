"""The dish portions forecast (R-S4, issue 16 §7): a payment's meal by its time of day,
the model on a hand-computed case, pre-orders as a floor, no number without history, the
read model over real payment lines, menus and pre-orders, the manager's page (and a
diner refused), and the synthetic dishes beating "same weekday last week"."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from onecard.catalogue import service as catalogue
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.pay.models import MealPeriod
from onecard.reports.attribution import Window, attribute, meal_at, meal_history
from onecard.reports.dish_forecast import (
    LUNCH_DISHES,
    backtest_dishes,
    canteen_dish_forecast,
    forecast_dish,
    per_diner,
    synthetic_dishes,
)
from onecard.reports.forecast import HISTORY_DAYS, canteen_forecast, mape, synthetic_history
from onecard.web.app import create_app
from reports.dish_history import TODAY, lunch_history
from web.pages import TestClient, add_staff, sign_in
from world import World, build_world

WINDOWS = [
    Window(1, "breakfast", time(7), time(9)),
    Window(2, "lunch", time(11, 30), time(13, 30)),
    Window(3, "dinner", time(17, 30), time(19, 30)),
]


def test_a_payment_is_the_meal_whose_window_holds_its_time() -> None:
    assert meal_at(WINDOWS, time(7)) == 1  # the start is in
    assert meal_at(WINDOWS, time(8, 59, 59)) == 1
    assert meal_at(WINDOWS, time(9)) is None  # the end is out
    assert meal_at(WINDOWS, time(6, 59, 59)) is None
    assert meal_at(WINDOWS, time(11, 29)) is None
    assert meal_at(WINDOWS, time(11, 30)) == 2
    assert meal_at(WINDOWS, time(19, 29)) == 3
    assert meal_at(WINDOWS, time(23, 0)) is None
    # created_at is naive UTC: 04:00 UTC is 12:00 in Beijing, lunch; 01:00 is 09:00, none.
    assert attribute(WINDOWS, None, datetime(2026, 9, 9, 4, 0)) == 2
    assert attribute(WINDOWS, None, datetime(2026, 9, 9, 1, 0)) is None
    assert attribute(WINDOWS, None, datetime(2026, 9, 8, 23, 0)) == 1  # 07:00 the next day
    # A payment made for a meal period is that meal whatever its time.
    assert attribute(WINDOWS, 3, datetime(2026, 9, 9, 4, 0)) == 3


WED = date(2026, 9, 16)  # an ordinary Wednesday


def test_the_model_on_a_small_case_computed_by_hand() -> None:
    # Three Wednesdays before (same weekday, enough of them): weights 1, 0.75, 0.5625.
    # A Tuesday (another weekday) and a Saturday (a day off) do not count; nor does the
    # Wednesday it was not on the menu.
    diners = {
        date(2026, 9, 9): 100,
        date(2026, 9, 2): 100,
        date(2026, 8, 26): 100,
        date(2026, 8, 19): 100,
        date(2026, 9, 15): 100,
        date(2026, 9, 12): 10,
    }
    portions = {
        date(2026, 9, 9): 50,
        date(2026, 9, 2): 30,
        date(2026, 8, 26): 10,
        date(2026, 9, 15): 90,
        date(2026, 9, 12): 10,
    }
    menu = [date(2026, 9, 9), date(2026, 9, 2), date(2026, 8, 26), date(2026, 9, 15)]
    menu.append(date(2026, 9, 12))
    r = per_diner(diners, portions, menu, WED)
    # (50·1 + 30·0.75 + 10·0.5625) / (100·(1 + 0.75 + 0.5625)) = 78.125 / 231.25
    assert r is not None and abs(r - 78.125 / 231.25) < 1e-12
    # 200 diners forecast (180–210), 20 of them pre-ordered 10 portions: walk-ins
    # 180 → 10 + round(0.33784·180 = 60.81) = 71; low 160 → 10 + 54 = 64; high 190 → 74.
    cell = forecast_dish(diners, portions, menu, WED, (200.0, 180, 210), 20, 10)
    assert (cell.portions, cell.low, cell.high, cell.preordered) == (71, 64, 74, 10)
    # With two Wednesdays only, every working day on the menu counts (the Tuesday too):
    # (50 + 90 + 30·0.75) / (100 + 100 + 75) = 162.5 / 275.
    two = [date(2026, 9, 9), date(2026, 9, 2), date(2026, 9, 15)]
    assert per_diner(diners, portions, two, WED) == 162.5 / 275


def test_pre_orders_are_a_floor_and_no_history_gives_no_number() -> None:
    diners = {date(2026, 9, 9): 100}
    portions = {date(2026, 9, 9): 50}
    menu = [date(2026, 9, 9)]
    # More pre-ordering diners than forecast: no walk-ins, the pre-orders stand.
    cell = forecast_dish(diners, portions, menu, WED, (30.0, 25, 41), 35, 22)
    assert (cell.portions, cell.low, cell.high) == (22, 22, 25)  # high: 22 + 0.5 × 6
    # A new dish: never on the menu before. Its pre-orders are shown, no forecast.
    new = forecast_dish(diners, {}, [], WED, (30.0, 25, 40), 5, 4)
    assert new.portions is None and new.per_diner is None and new.preordered == 4
    # Sold before, but not on a comparable day (only on a Saturday): no forecast either.
    assert (
        per_diner({date(2026, 9, 12): 9}, {date(2026, 9, 12): 3}, [date(2026, 9, 12)], WED) is None
    )
    # No diners forecast for the meal: the per-diner figure, no portions.
    blind = forecast_dish(diners, portions, menu, WED, None, 0, 0)
    assert blind.portions is None and blind.per_diner == 0.5


# --- over the database --------------------------------------------------------------------


def dishes(ctx: Context, w: World) -> dict[str, int]:
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a2"], "canteen_manager", canteen_id=w.canteens["A"])
    with ctx.db.read() as conn:
        m = Actor.load(conn, w.people["a2"], "Sa2", w.units["A"])
    cid = w.canteens["A"]
    return {
        k: catalogue.save_dish(ctx, m, cid, catalogue.DishSpec(sku, name, price))
        for k, sku, name, price in [
            ("pork", "D1", "红烧肉", 1200),
            ("tofu", "D2", "麻婆豆腐", 500),
            ("fish", "D3", "清蒸鱼", 1800),
            ("rice", "D4", "米饭", 100),
        ]
    }


def test_the_read_model_attributes_counts_and_forecasts(ctx: Context) -> None:
    w = build_world(ctx)
    ids = dishes(ctx, w)
    lunch_history(ctx, w, ids)
    cid = w.canteens["A"]
    with ctx.db.read() as conn:
        lunch = conn.execute(
            select(MealPeriod.id).where(MealPeriod.canteen_id == cid, MealPeriod.code == "lunch")
        ).scalar_one()
    h = meal_history(ctx, cid, TODAY - timedelta(days=HISTORY_DAYS), TODAY)
    assert set(h) == {lunch}  # the 10:00 sales are no meal's
    monday = date(2026, 9, 14)
    assert h[lunch].diners[monday] == 20
    assert h[lunch].portions[ids["pork"]][monday] == 10  # not the 10:00 one
    assert h[lunch].portions[ids["tofu"]][monday] == 10  # 5 sales of 2
    # The diners forecast counts these item sales too (they carry no meal period).
    diners = canteen_forecast(ctx, cid, TODAY, 1)
    cell = next(m for m in diners["meals"] if m["code"] == "lunch")["cells"][0]
    assert cell == {"diners": 20, "low": 20, "high": 20}
    got = canteen_dish_forecast(ctx, cid, TODAY)
    assert got["date"] == TODAY + timedelta(days=1)
    meal = next(m for m in got["meals"] if m["code"] == "lunch")
    assert meal["diners"] == {"diners": 20, "low": 20, "high": 20}
    assert meal["preorder_diners"] == 2  # the cancelled one does not count
    by = {d["sku"]: d for d in meal["dishes"]}
    # 0.5 portion per diner × (20 − 2) walk-ins = 9, plus 4 pre-ordered pork / 2 tofu.
    assert (by["D1"]["portions"], by["D1"]["low"], by["D1"]["high"]) == (13, 13, 13)
    assert by["D1"]["preordered"] == 4 and by["D1"]["per_diner"] == 0.5
    assert (by["D2"]["portions"], by["D2"]["preordered"]) == (11, 2)
    assert by["D3"]["portions"] is None and by["D3"]["per_diner"] is None  # new: no number
    breakfast = next(m for m in got["meals"] if m["code"] == "breakfast")
    assert breakfast["diners"] is None and breakfast["dishes"] == []


def test_the_page_shows_the_manager_the_dishes_and_refuses_a_diner(ctx: Context) -> None:
    w = build_world(ctx)
    staff = add_staff(ctx, w)
    lunch_history(ctx, w, dishes(ctx, w))
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 9, 16, 15, 0)))
    with TestClient(create_app(ctx), raise_server_exceptions=True) as client:
        sign_in(client, ctx, staff["cm"])
        page = client.get(f"/till/forecast?canteen_id={w.canteens['A']}")
        assert page.status_code == 200
        zh = page.text
        assert "明日菜品份数预测" in zh and "09-17 周四" in zh
        assert 'data-sku="D1"' in zh and "<strong>13</strong>" in zh and "(13–13)" in zh
        assert "无销售记录，不预测" in zh  # the new fish
        assert "预测就餐 20 人，其中预订 2 人" in zh
        en = client.get(f"/till/forecast?canteen_id={w.canteens['A']}&lang=en").text
        assert "Tomorrow's portions per dish" in en or "Tomorrow&#39;s portions per dish" in en
        assert "No sales history: no forecast" in en and "20 diners forecast" in en
        assert "明日菜品" not in en
    with TestClient(create_app(ctx), raise_server_exceptions=True) as client:
        sign_in(client, ctx, staff["a1"])
        assert client.get(f"/till/forecast?canteen_id={w.canteens['A']}").status_code == 403


def test_the_page_says_when_tomorrow_has_no_menu(ctx: Context) -> None:
    w = build_world(ctx)
    staff = add_staff(ctx, w)
    with TestClient(create_app(ctx), raise_server_exceptions=True) as client:
        sign_in(client, ctx, staff["cm"])
        page = client.get(f"/till/forecast?canteen_id={w.canteens['A']}").text
        assert 'id="no-menu"' in page and "明天还没有菜单" in page


def test_the_synthetic_dishes_beat_last_week_on_working_days_too() -> None:
    """A quarter's lunch at the synthetic canteen: the dish forecast beats the dish's
    portions a week before, overall and on the days both weeks were working days (where
    last week is a fair guess: no holiday in between)."""
    from onecard.reports.holidays import is_workday

    start, end = date(2026, 9, 1), date(2026, 12, 1)
    series = synthetic_history(start - timedelta(days=91), end, 180.0, 0.004, seed=101)
    dishes = synthetic_dishes(series, LUNCH_DISHES, 111)
    assert len({round(sum(s.values()) / len(s), 0) for s in dishes.portions.values()}) >= 5
    assert sum(dishes.preorder_diners.values()) > 0
    ours, base, when = backtest_dishes(series, dishes, start, end)
    assert mape(ours) < mape(base)
    keep = [i for i, d in enumerate(when) if is_workday(d) and is_workday(d - timedelta(days=7))]
    assert len(keep) > 150
    assert mape([ours[i] for i in keep]) < mape([base[i] for i in keep])
