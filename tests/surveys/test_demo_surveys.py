"""The demo city has a survey to look at and to answer: the bureau's city-wide survey,
open today, answered by a few dozen diners (stars, choices, comments), not yet by the
demo diner; and the per-capita report has every canteen's lunches."""

from __future__ import annotations

from sqlalchemy import select

from onecard.core.clock import quarter_of
from onecard.core.context import Context
from onecard.demo import build_demo
from onecard.org.actors import Actor
from onecard.org.models import Person
from onecard.reports import per_capita
from onecard.reports.service import catch_up
from onecard.surveys import queries


def test_the_demo_city_has_a_survey_with_answers(ctx: Context) -> None:
    city = build_demo(ctx, staff=60, history_days=2)
    today = ctx.clock.today()
    [s] = queries.listed(ctx, Actor.system("test"), today)
    assert s["state"] == "open" and s["city_wide"] and s["responses"] > 10
    r = queries.results(ctx, s["id"])
    stars = r["all"][0]
    assert sum(stars["counts"]) == r["responses"] and 3 <= stars["average"] <= 5
    assert any(c["questions"][3]["texts"] for c in r["canteens"])
    with ctx.db.read() as conn:
        diner = conn.execute(
            select(Person.id).where(Person.staff_no == city.logins["diner"])
        ).scalar_one()
    [mine] = queries.open_for(ctx, diner, today)
    assert mine["id"] == s["id"] and not mine["answered"] and mine["answerable"]
    catch_up(ctx, grace_seconds=0)
    pc = per_capita.per_capita(ctx, quarter_of(today))
    lunch = [m for m in pc.meals if m.meal == "lunch"]
    assert lunch and lunch[0].diners > 0 and lunch[0].per_diner_fen
    assert pc.city.waste_per_diner_g is not None
