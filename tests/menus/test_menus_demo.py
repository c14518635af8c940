"""The demo city has menus and pre-orders to look at: a week of lunches and dinners at
the first canteen, yesterday's pre-orders collected but one (a no-show, charged by the
morning's run), tomorrow's placed — the demo diner's lunch on hold."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.demo import build_demo
from onecard.feedback.models import DishRating
from onecard.menus import queries
from onecard.menus.models import Preorder
from onecard.org.models import Canteen, Person


def test_the_demo_city_has_menus_and_preorders(ctx: Context) -> None:
    city = build_demo(ctx, staff=60, history_days=2)
    today = ctx.clock.today()
    with ctx.db.read() as conn:
        first = conn.execute(select(func.min(Canteen.id))).scalar_one()
        diner = conn.execute(
            select(Person.id).where(Person.staff_no == city.logins["diner"])
        ).scalar_one()
        statuses = dict(
            conn.execute(select(Preorder.status, func.count()).group_by(Preorder.status)).all()
        )
        no_show = conn.execute(
            select(Preorder.no_show_action).where(Preorder.status == "no_show")
        ).scalar_one()
    week = queries.week(ctx, first, queries.monday_of(today))
    assert all(m.dishes for d in week for m in d.meals if m.code in ("lunch", "dinner"))
    assert statuses == {"picked_up": 3, "no_show": 1, "placed": 4, "cancelled": 1}
    assert no_show == "charged"
    assert city.counts["preorders"] == 9
    assert queries.held_fen(ctx, diner) == 1200 + 400  # 红烧肉 + 清炒时蔬, on hold
    tomorrow = {c.sku: c.portions for c in queries.counts(ctx, first, today + timedelta(days=1))}
    assert tomorrow and sum(tomorrow.values()) >= 4
    # Each dish shows its diners' average stars (the demo's lunches are rated).
    with ctx.db.read() as conn:
        stars = {
            int(i): round(float(a), 2)
            for i, a in conn.execute(
                select(DishRating.item_id, func.avg(DishRating.stars)).group_by(DishRating.item_id)
            )
        }
    shown = {r.item_id: r.rating for d in week for m in d.meals for r in m.dishes}
    assert any(r is not None for r in shown.values())
    assert all(shown[i] == stars.get(i) for i in shown)
