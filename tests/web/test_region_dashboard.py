"""A region's dashboard counts its subtree only (issue 17 §1), down to the day charts, the
subsidy figures and the quarter's PDF: a county bureau's numbers are checked against a
hand count of the payments and distributions made here, and a county's plus the rest of
the city's are the city's."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from onecard.core.context import Context
from onecard.ledger.service import Leg, account_id, post, system_account
from onecard.org.fund_regions import subtree
from onecard.pay.models import Payment
from onecard.pay.service import PaymentRequest, pay
from onecard.reports import figures
from onecard.reports.quarter_report import quarter_report
from onecard.reports.service import catch_up
from onecard.web.app import create_app
from web.pages import TestClient, add_role_holder, add_staff, sign_in
from web.test_statement_pdf import pdf_pages
from world import World, build_world, fund, move_unit_to_a_town

Q = "2026Q1"  # the clock: 12:00 on 10 March 2026, Beijing time
DAY = "2026-03-10"
# What each person is distributed this quarter (journal entries of kind "distribution").
DISTRIBUTED = {"a1": 30000, "b1": 20000, "c1": 10000}


def _pay(ctx: Context, w: World, who: str, at: str, txn: str, amount: int) -> None:
    got = json.loads(
        pay(ctx, w.terminals[at], PaymentRequest(txn, w.cards[who], amount_fen=amount)).body  # type: ignore[attr-defined]
    )
    assert got["result"] == "approved", got


def _distribute(ctx: Context, w: World) -> None:
    with ctx.db.begin() as conn:
        bank = system_account(conn, "bank_clearing")
        for who, fen in DISTRIBUTED.items():
            post(
                conn,
                region_id=w.region,
                kind="distribution",
                key=f"test-dist:{who}",
                legs=[
                    Leg(bank, -fen),
                    Leg(account_id(conn, "person", w.people[who], "subsidy"), fen),
                ],
                actor="test",
                booked_at=ctx.clock.now(),
                period=Q,
            )


def _county_world(ctx: Context) -> tuple[World, int, int]:
    """Four meals at 12:00 (A: a1 12.00, b1 15.00; B: c1 9.00, b1 11.00) and the three
    distributions; then unit B, canteen B and unit B's people (b1) move to a township of
    a new county."""
    w = build_world(ctx)
    for who in ("a1", "b1", "c1"):
        fund(ctx, w, who, cash=2000)
    _distribute(ctx, w)
    _pay(ctx, w, "a1", "A", "t1", 1200)
    _pay(ctx, w, "b1", "A", "t2", 1500)
    _pay(ctx, w, "c1", "B", "t3", 900)
    _pay(ctx, w, "b1", "B", "t4", 1100)
    catch_up(ctx, grace_seconds=0)
    county, town = move_unit_to_a_town(ctx, w)
    return w, county, town


def _spent(ctx: Context, w: World, who: str) -> int:
    """The subsidy purse's part of a person's meals (subsidy first: all of it here)."""
    with ctx.db.read() as conn:
        return int(
            conn.execute(
                select(func.sum(Payment.subsidy_fen)).where(Payment.person_id == w.people[who])
            ).scalar_one()
        )


def _heads(ctx: Context, within: frozenset[int] | None) -> dict[str, int]:
    return {f.key: f.now for f in figures.headline(ctx, Q, within)}


def _total(rows: list[list[Any]], col: int) -> int:
    return sum(int(r[col]) for r in rows)


def test_a_countys_day_charts_and_subsidy_are_its_subtrees(ctx: Context) -> None:
    w, county, _town = _county_world(ctx)
    assert _spent(ctx, w, "b1") == 1500 + 1100  # all from the subsidy purse
    with ctx.db.read() as conn:
        k, everything = frozenset(subtree(conn, county)), frozenset(subtree(conn, w.region))
    rest = everything - k
    mine, others, whole = _heads(ctx, k), _heads(ctx, rest), _heads(ctx, None)
    # The county: canteen B's two meals (9.00 by c1, a visitor; 11.00 by b1), and b1.
    assert mine == {
        "meals": 2,
        "diners": 1,
        "revenue": 2000,
        "visitors": 4500,  # 9.00 of 20.00
        "distributed": 20000,
        "left": 20000 - 2600,
    }
    assert whole["distributed"] == 60000 and whole["left"] == 60000 - 4700
    for key in ("meals", "revenue", "distributed", "left"):
        assert mine[key] + others[key] == whole[key], key
    daily = figures.daily(ctx, Q, k)
    assert [r for r in daily.rows if r[1]] == [[DAY, 2, 2000]]
    assert len(daily.rows) == len(figures.daily(ctx, Q).rows) == 90
    assert [r for r in figures.daily(ctx, Q, rest).rows if r[1]] == [[DAY, 2, 2700]]
    day = figures.latest_day(ctx, Q, k)
    rush = figures.rush(ctx, day, within=k)
    assert [r for r in rush.rows if r[1]] == [["12:00", 2]]
    assert _total(figures.rush(ctx, day).rows, 1) == 4
    assert _total(figures.rush(ctx, day, within=rest).rows, 1) == 2
    doc = quarter_report(ctx, Q, county)
    assert doc.title.startswith("桂阳县2026年第1季度")
    assert doc.figures == mine
    assert [r[0] for r in doc.rows] == ["人民医院职工食堂"]


def test_a_county_bureau_sees_its_subtree_over_http(ctx: Context) -> None:
    w, county, town = _county_world(ctx)
    add_staff(ctx, w)
    add_role_holder(ctx, county, w.units["B"], "Skb", "bureau_admin", "县管理局")
    app = create_app(ctx)
    with TestClient(app) as c:
        sign_in(c, ctx, "Skb")
        page = c.get("/bureau/dashboard")
        assert page.status_code == 200, page.text
        for key in ("daily", "rush", "matrix", "revenue", "ratings"):
            assert f'id="chart-{key}"' in page.text
        assert 'data-key="distributed"' in page.text and "200.00" in page.text
        assert "174.00" in page.text  # left: 200.00 − 26.00 (what b1 spent)
        daily = c.get("/bureau/dashboard/daily.json").json()
        assert _total(daily["rows"], 1) == 2 and _total(daily["rows"], 2) == 2000
        rush = c.get(f"/bureau/dashboard/rush.json?day={DAY}").json()
        assert [r for r in rush["rows"] if r[1]] == [["12:00", 2]]
        assert c.get(f"/bureau/dashboard/daily.json?region={town}").json() == daily
        assert c.get("/bureau/dashboard/daily.xlsx").status_code == 200
        assert c.get("/bureau/dashboard/rush.xlsx").status_code == 200
        assert c.get(f"/bureau/dashboard/daily.json?region={w.region}").status_code == 403
        assert c.get(f"/bureau/dashboard/report.pdf?region={w.region}").status_code == 403
        pdf = c.get(f"/bureau/dashboard/report.pdf?quarter={Q}")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        [text] = pdf_pages(pdf.content)
        assert "桂阳县2026年第1季度" in text and "区域：桂阳县（含下级区域）" in text
        assert "营业额（元）：20.00 元" in text and "本季拨付补贴（元）：200.00 元" in text
        assert "人民医院职工食堂" in text and "财政局机关食堂" not in text
    with TestClient(app) as c:
        sign_in(c, ctx, "Sfi")  # finance of the whole city: everything, or the county
        whole = c.get("/bureau/dashboard/daily.json").json()
        assert _total(whole["rows"], 1) == 4 and _total(whole["rows"], 2) == 4700
        chosen = c.get(f"/bureau/dashboard/daily.json?region={county}").json()
        assert _total(chosen["rows"], 2) == 2000
        [text] = pdf_pages(c.get(f"/bureau/dashboard/report.pdf?region={county}").content)
        assert "区域：桂阳县（含下级区域）" in text
        [text] = pdf_pages(c.get("/bureau/dashboard/report.pdf").content)
        assert "区域：" not in text and "营业额（元）：47.00 元" in text
