"""The canteen manager's forecast page (/till/forecast, R-S4): tomorrow first, the
holidays and swapped working days named, in Chinese and in English; others get 403."""

from __future__ import annotations

from datetime import datetime

from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from web.pages import Staff, TestClient, sign_in
from world import World


def test_the_forecast_page_in_both_languages(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 9, 30, 15, 0)))  # tomorrow is National Day
    sign_in(client, ctx, staff["cm"])
    page = client.get(f"/till/forecast?canteen_id={w.canteens['A']}")
    assert page.status_code == 200
    zh = page.text
    assert "就餐预测" in zh and 'id="tomorrow"' in zh
    assert "10-01 周四" in zh and "节假日" in zh  # National Day
    assert "10-10" not in zh  # seven days: 10-01 … 10-07
    assert "消费记录不足两周" in zh  # the test world has no history
    en = client.get(f"/till/forecast?canteen_id={w.canteens['A']}&lang=en").text
    assert "Demand forecast" in en and "Holiday" in en and "Thu" in en
    assert "就餐预测" not in en


def test_only_those_who_run_the_canteen_see_it(
    ctx: Context, w: World, staff: Staff, client: TestClient
) -> None:
    sign_in(client, ctx, staff["cm"])
    assert client.get(f"/till/forecast?canteen_id={w.canteens['B']}").status_code == 403
