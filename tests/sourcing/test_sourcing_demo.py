"""The demo city has a kitchen to trace: recipes, two suppliers, batches (one failed its
inspection and is never used) and lunches that used them; batch ZR-DEMO-01 reaches
several days' lunches of the first canteen, and those lunches cost something."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.demo import build_demo
from onecard.org.models import Canteen
from onecard.sourcing import queries


def test_the_demo_city_traces_a_batch(ctx: Context) -> None:
    build_demo(ctx, staff=60, history_days=2)
    with ctx.db.read() as conn:
        first = conn.execute(select(func.min(Canteen.id))).scalar_one()
    s = queries.canteen_sourcing(ctx, first)
    assert len(s["suppliers"]) == 2 and all(d["lines"] for d in s["dishes"])
    failed = [b for b in s["batches"] if b["inspection"] == "fail"]
    assert len(failed) == 1 and failed[0]["used_milli"] == 0
    [pork] = queries.find_batches(ctx, "ZR-DEMO-01")
    trace = queries.batch_trace(ctx, pork["id"])
    assert trace is not None and len(trace["days"]) > 1 and trace["batch"]["left_milli"] > 0
    day = trace["days"][-1]
    meal = queries.meal_trace(ctx, first, day, "lunch")
    assert {u["dish"] for u in meal} == {"红烧肉", "番茄炒蛋", "清炒时蔬", "鱼香肉丝"}
    today = ctx.clock.today()
    cost = queries.ingredient_cost(ctx, today - timedelta(days=30), today)
    assert [(r.canteen_id, r.meal) for r in cost] == [(first, "lunch")] and cost[0].fen > 0
