"""The dashboard by region (issue 17 §1): a region's headline figures and charts count
the meals at its subtree's canteens, so a county's figures plus the
rest of the city's are the city's; over HTTP a county's reader sees its subtree only."""

from __future__ import annotations

import json

from onecard.core.clock import quarter_of
from onecard.core.context import Context
from onecard.org.fund_regions import subtree
from onecard.pay.service import PaymentRequest, pay
from onecard.reports import figures
from onecard.reports.service import catch_up
from onecard.web.app import create_app
from web.pages import TestClient, add_role_holder, add_staff, sign_in
from world import World, build_world, fund, move_unit_to_a_town


def _pay(ctx: Context, w: World, who: str, at: str, txn: str, amount: int) -> None:
    got = json.loads(
        pay(ctx, w.terminals[at], PaymentRequest(txn, w.cards[who], amount_fen=amount)).body  # type: ignore[attr-defined]
    )
    assert got["result"] == "approved", got


def _world_with_a_county(ctx: Context) -> tuple[World, int, int]:
    """Payments at canteens A and B; then unit B and canteen B move to a county (the
    roll-ups are keyed by canteen, so the county's figures are canteen B's)."""
    w = build_world(ctx)
    for who in ("a1", "b1", "c1"):
        fund(ctx, w, who, subsidy=50000, cash=2000)
    _pay(ctx, w, "a1", "A", "t1", 1200)
    _pay(ctx, w, "b1", "A", "t2", 1500)  # B's person eats at A
    _pay(ctx, w, "c1", "B", "t3", 900)
    _pay(ctx, w, "b1", "B", "t4", 1100)
    catch_up(ctx, grace_seconds=0)
    county, town = move_unit_to_a_town(ctx, w)
    return w, county, town


def test_a_countys_figures_are_its_subtrees_and_add_up_to_the_citys(ctx: Context) -> None:
    w, county, _town = _world_with_a_county(ctx)
    q = quarter_of(ctx.clock.today())
    with ctx.db.read() as conn:
        k, everything = frozenset(subtree(conn, county)), frozenset(subtree(conn, w.region))
    rest = everything - k
    whole = {f.key: f.now for f in figures.headline(ctx, q)}
    mine = {f.key: f.now for f in figures.headline(ctx, q, k)}
    others = {f.key: f.now for f in figures.headline(ctx, q, rest)}
    assert set(mine) == {"meals", "diners", "revenue", "visitors", "distributed", "left"}
    assert mine["meals"] == 2 and mine["revenue"] == 2000  # canteen B: 900 + 1100
    assert mine["meals"] + others["meals"] == whole["meals"] == 4
    assert mine["revenue"] + others["revenue"] == whole["revenue"] == 4700
    assert mine["diners"] == 1  # b1, the county's own person who ate (anywhere)
    assert {f.key: f.now for f in figures.headline(ctx, q, everything)}["meals"] == 4
    matrix = figures.matrix(ctx, q, top=100, within=k)
    assert {row[1] for row in matrix.rows} == {"人民医院职工食堂"}
    assert sum(row[3] for row in matrix.rows) == mine["revenue"]
    assert sum(row[3] for row in figures.matrix(ctx, q, top=100).rows) == whole["revenue"]
    revenue = figures.revenue(ctx, q, k)
    assert len(revenue.rows) == 1 and revenue.rows[0][2] == 2000


def test_over_http_a_countys_reader_sees_its_subtree_only(ctx: Context) -> None:
    w, county, town = _world_with_a_county(ctx)
    add_staff(ctx, w)
    add_role_holder(ctx, county, w.units["B"], "Skf", "finance", "县财政")
    app = create_app(ctx)
    with TestClient(app) as c:
        _csrf, home = sign_in(c, ctx, "Skf")
        assert home == "/bureau/dashboard"
        page = c.get("/bureau/dashboard")
        assert page.status_code == 200, page.text
        m = c.get("/bureau/dashboard/matrix.json").json()
        cells = json.dumps(m, ensure_ascii=False)
        assert "财政局机关食堂" not in cells  # canteen A is the city's
        assert c.get("/bureau/dashboard/matrix.xlsx").status_code == 200
        assert c.get("/bureau/dashboard/revenue.xlsx").status_code == 200
        assert c.get("/bureau/dashboard/daily.json").status_code == 200
        assert c.get(f"/bureau/dashboard?region={w.region}").status_code == 403
        assert c.get(f"/bureau/dashboard/matrix.json?region={w.region}").status_code == 403
        assert c.get(f"/bureau/dashboard/matrix.json?region={town}").status_code == 200
        assert c.get("/bureau/dashboard/report.pdf").status_code == 200
        pc = c.get("/api/v1/reports/per-capita").json()
        assert {x["canteen"] for x in pc["canteens"]} == {"人民医院职工食堂"}
        assert pc["city"]["diners"] == 2  # canteen B's two meals
        assert c.get("/bureau/per-capita").status_code == 200
        assert c.get("/bureau/per-capita.xlsx").status_code == 200
        assert c.get("/bureau/runs").status_code == 403
    with TestClient(app) as c:
        sign_in(c, ctx, "Sfi")  # finance of the whole city
        whole = json.dumps(c.get("/bureau/dashboard/matrix.json").json(), ensure_ascii=False)
        assert "财政局机关食堂" in whole
        assert c.get(f"/bureau/dashboard/matrix.json?region={county}").status_code == 200
