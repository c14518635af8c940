"""``ledger.service.last_closed`` and ``closed_for_any`` over several regions at once:
each region counts its fund region's closed quarters (a township its county's when the
county keeps its own fund, the city's otherwise), on both databases."""

from __future__ import annotations

from sqlalchemy import update

from onecard.core.context import Context
from onecard.ledger.service import close_period, closed_for_any, last_closed
from onecard.org import builders as b
from onecard.org.models import Region
from world import build_world


def test_last_closed_over_several_regions(ctx: Context) -> None:
    w = build_world(ctx)
    at = ctx.clock.now()
    with ctx.db.begin() as conn:
        county = b.create_region(conn, "431021", "桂阳县", "county", w.region)
        town = b.create_region(conn, "431021101", "城关镇", "township", county)
        other = b.create_region(conn, "431024", "嘉禾县", "county", w.region)
        conn.execute(update(Region).where(Region.id == county).values(own_fund=True))
        assert close_period(conn, "2026Q1", "t", at, fund_region_id=county)
    with ctx.db.read() as conn:
        assert last_closed(conn, [town, other]) == "2026Q1"  # the county's, through the town
        assert last_closed(conn, [other, w.region]) is None  # both under the city's fund
        assert closed_for_any(conn, "2026Q1", [other, town])
        assert not closed_for_any(conn, "2026Q1", [other, w.region])
    with ctx.db.begin() as conn:
        assert close_period(conn, "2026Q1", "t", at)
        assert close_period(conn, "2026Q2", "t", at)
    with ctx.db.read() as conn:
        assert last_closed(conn, [town, other]) == "2026Q2"
        assert last_closed(conn, [town, county]) == "2026Q1"
