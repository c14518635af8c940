"""The demo city has dish ratings to look at: lunches sold by item lines at the first
canteen, most dishes rated (rankings, comments), the demo diner's last meal left to rate
and a week of nutrition."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.demo import build_demo
from onecard.feedback import dish_queries as queries
from onecard.org.models import Person
from onecard.pay.models import PaymentLine


def test_the_demo_city_has_dish_lines_and_ratings(ctx: Context) -> None:
    city = build_demo(ctx, staff=60, history_days=2)
    today = ctx.clock.today()
    with ctx.db.read() as conn:
        lines = conn.execute(select(func.count()).select_from(PaymentLine)).scalar_one()
        diner = conn.execute(
            select(Person.id).where(Person.staff_no == city.logins["diner"])
        ).scalar_one()
    assert lines > 10
    ranked = queries.rankings(ctx, today - timedelta(days=30), today)
    assert len(ranked) == 4 and all(r["count"] > 0 for r in ranked)
    assert queries.comments(ctx, today - timedelta(days=30), today)
    # The demo diner's latest meal with lines is still to rate.
    from onecard.pay.queries import my_transactions

    mine = [t["payment_id"] for t in my_transactions(ctx, diner, 50)]
    summary = queries.lines_summary(ctx, [int(str(p)) for p in mine])
    latest = max(summary)
    assert summary[latest][1] == 0 and summary[latest][0] >= 1
    assert any(rated for pid, (_, rated) in summary.items() if pid != latest)
    week = queries.week_nutrition(ctx, diner, today - timedelta(days=1))
    assert week.lines >= 1 and week.totals["energy_kj"] > 0
