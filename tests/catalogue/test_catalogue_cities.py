"""Reference prices are a city's (R-A11): in a province of two cities each canteen's goods
are capped by, and compared with, the prices of the city it lies in — a county's canteen
by its city's — not by the province's first city."""

from __future__ import annotations

from datetime import date

import pytest

from onecard.catalogue import queries, service
from onecard.core.context import Context
from onecard.core.errors import AboveReferencePrice
from onecard.org import builders as b
from onecard.org.actors import Actor

SYSTEM = Actor.system("test")
MILK = "6901234567890"


def test_two_cities_in_a_province_keep_their_own_reference_prices(ctx: Context) -> None:
    with ctx.db.begin() as conn:
        province = b.create_region(conn, "430000", "湖南省", "province")
        first = b.create_region(conn, "431000", "郴州市", "city", province)
        second = b.create_region(conn, "430100", "长沙市", "city", province)
        county = b.create_region(conn, "430121", "长沙县", "county", second)
        township = b.create_region(conn, "430121101", "星沙镇", "township", county)
        u1 = b.create_unit(conn, first, "U1", "郴州市财政局")
        u2 = b.create_unit(conn, county, "U2", "长沙县财政局")
        c1 = b.create_canteen(conn, first, u1, "C1", "郴州市机关食堂")
        c2 = b.create_canteen(conn, county, u2, "C2", "长沙县机关食堂")
        assert queries.city_region(conn, township) == second
        assert queries.city_region(conn, county) == second
        assert queries.city_region(conn, first) == first
        assert queries.city_region(conn, province) is None
        assert queries.city_region(conn) == first  # no region: the first city, as before
    day = date(2026, 1, 1)
    service.publish_references(
        ctx, SYSTEM, first, day, [service.ReferenceRow("纯牛奶", 450, MILK, "郴州超市")]
    )
    service.publish_references(
        ctx, SYSTEM, second, day, [service.ReferenceRow("纯牛奶", 600, MILK, "长沙超市")]
    )
    # The cap: 5.00 is above the first city's 4.50, within the second's 6.00.
    with pytest.raises(AboveReferencePrice):
        service.save_good(ctx, SYSTEM, c1, service.GoodSpec("M1", "纯牛奶", 500, MILK))
    service.save_good(ctx, SYSTEM, c1, service.GoodSpec("M1", "纯牛奶", 400, MILK))
    service.save_good(ctx, SYSTEM, c2, service.GoodSpec("M2", "纯牛奶", 500, MILK))
    goods = {cid: queries.canteen_items(ctx, cid)["goods"][0] for cid in (c1, c2)}
    assert (goods[c1]["reference_fen"], goods[c2]["reference_fen"]) == (450, 600)
    assert not goods[c1]["over"] and not goods[c2]["over"]
    # The second city's large stores drop to 4.80: its county's canteen is over; the
    # first city's canteen (4.00 against its own 4.50) is not.
    over = service.publish_references(
        ctx, SYSTEM, second, date(2026, 1, 2), [service.ReferenceRow("纯牛奶", 480, MILK, "")]
    )
    assert [(o.canteen_id, o.reference_fen) for o in over] == [(c2, 480)]
    assert [o.sku for o in queries.goods_over_reference(ctx, c2)] == ["M2"]
    assert queries.goods_over_reference(ctx, c1) == []
    assert queries.canteen_items(ctx, c2)["goods"][0]["over"]
