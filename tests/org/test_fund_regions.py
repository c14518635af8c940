"""A region's fund region and subtree (issue 17 §1): the nearest region at or above it
that keeps its own fund; the top region always keeps one."""

from __future__ import annotations

from sqlalchemy import update

from onecard.core.context import Context
from onecard.org import fund_regions
from onecard.org.builders import create_region
from onecard.org.models import Region

# province 1 → cities 2 (own), 3 (shares the province's) → county 4 under 2 (own),
# township 5 under 4, township 6 under 3
ROWS = [(1, None, False), (2, 1, True), (3, 1, False), (4, 2, True), (5, 4, False), (6, 3, False)]


def test_each_region_keeps_money_at_the_nearest_fund_at_or_above_it() -> None:
    assert fund_regions.fund_regions_of(ROWS) == {1: 1, 2: 2, 3: 1, 4: 4, 5: 4, 6: 1}


def test_a_subtree_is_the_region_and_everything_below() -> None:
    assert fund_regions.subtree_of(ROWS, 2) == {2, 4, 5}
    assert fund_regions.subtree_of(ROWS, 1) == {1, 2, 3, 4, 5, 6}
    assert fund_regions.subtree_of(ROWS, 6) == {6}


def test_a_new_deployment_keeps_one_fund_until_a_county_gets_its_own(ctx: Context) -> None:
    with ctx.db.engine.begin() as conn:
        top = create_region(conn, "439000", "湖南省", "province")
        city = create_region(conn, "431000", "郴州市", "city", top)
        county = create_region(conn, "431021", "桂阳县", "county", city)
        assert fund_regions.top_region(conn) == top
        assert fund_regions.fund_region_of(conn, county) == top
        conn.execute(update(Region).where(Region.id == county).values(own_fund=True))
        assert fund_regions.fund_region_of(conn, county) == county
        assert fund_regions.fund_region_of(conn, city) == top
        shares_top = {r for r, f in fund_regions.fund_region_map(conn).items() if f == top}
        assert shares_top == {top, city}
        assert fund_regions.subtree(conn, city) == {city, county}


def test_each_fund_region_has_its_own_system_accounts(ctx: Context) -> None:
    from onecard.ledger.service import open_system_accounts, system_account

    with ctx.db.engine.begin() as conn:
        top = create_region(conn, "439000", "湖南省", "province")
        city = create_region(conn, "431000", "郴州市", "city", top)
        mine = open_system_accounts(conn, city, top=False)
        assert system_account(conn, "dining_fund") == system_account(conn, "dining_fund", top)
        assert system_account(conn, "dining_fund", city) == mine["dining_fund"]
        assert mine["dining_fund"] != system_account(conn, "dining_fund", top)
