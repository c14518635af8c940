"""The demo city has waste supervision to look at: a supervisor's inspections, each
canteen's weighed lunches, the demo diner's clean-plate streak, two notices (one
acknowledged)."""

from __future__ import annotations

from sqlalchemy import select

from onecard.core.context import Context
from onecard.demo import build_demo
from onecard.org.models import Person
from onecard.waste import queries


def test_the_demo_city_supervises_waste(ctx: Context) -> None:
    city = build_demo(ctx, staff=60, history_days=2)
    today = ctx.clock.today()
    inspections = queries.inspections(ctx)
    assert len(inspections) == 2 and all(i["leftover_grams"] > 0 for i in inspections)
    rows = queries.per_diner(ctx, today.replace(day=1), today)
    assert rows and all(r.diners and 30 <= (r.per_diner or 0) <= 90 for r in rows)
    with ctx.db.read() as conn:
        diner = conn.execute(
            select(Person.id).where(Person.staff_no == city.logins["diner"])
        ).scalar_one()
    plates = queries.clean_plates(ctx, diner, today)  # a lunch every day up to yesterday
    assert plates["streak"] == plates["total"] > 1 and plates["today"] == []
    notices = queries.notices(ctx)
    assert len(notices) == 2
    assert sorted(n["acknowledged_at"] is not None for n in notices) == [False, True]
    assert "waste_supervisor" in city.logins
