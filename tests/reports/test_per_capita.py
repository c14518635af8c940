"""Per-capita figures by hand, to the fen: a small city eats two days at two canteens,
one meal is refunded in part, one reversed, leftovers are weighed; the report read from
the roll-ups says exactly what a person with a pencil says. And the page, its Excel and
the API say the same.

Canteen A (unit A): breakfast own 150; lunch own 300, visitors 500. Canteen B (unit B):
lunch own 400, visitors 600.

| day  | canteen, meal | who (class)                 | paid                          |
| ---- | ------------- | --------------------------- | ----------------------------- |
| 3-09 | A breakfast   | a1 (own)                    | 150                           |
| 3-09 | A lunch       | a1, a2 (own); b1, c1 (vis.) | 300 + 300 + 500 + 500         |
| 3-10 | A lunch       | a1 (own)                    | 300                           |
| 3-10 | B lunch       | b1 (own); c1 (vis.)         | 400; c1's 600 reversed        |
a2's 3-09 lunch is refunded 100. Leftovers: A lunch 3-09 1 kg, 3-10 0.5 kg; B lunch 3-10
0.3 kg; A breakfast 3-08 0.2 kg (nobody paid that day: not counted).

A lunch: 5 diners, 1,800 fen, 360 a diner, 2 visitors (40.00%), 1,500 g ÷ 5 = 300 g.
A breakfast: 1 diner, 150. B lunch: 1 diner, 400, 300 g ÷ 1 = 300 g.
A in all: 6 diners, 1,950, 325 a diner, visitors 2/6 = 33.33%, 300 g.
Lunch in the city: 6 diners, 2,200 → 366.67 → 367 (half up), 33.33%, 1,800 g ÷ 6 = 300.
The city: 7 diners, 2,350 → 335.71 → 336, visitors 2/7 = 28.57%, 300 g.
"""

from __future__ import annotations

import io
from datetime import date, datetime

from openpyxl import load_workbook

from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.org.actors import Actor
from onecard.pay import reversal
from onecard.pay.service import PaymentRequest, pay
from onecard.reports import per_capita
from onecard.reports.service import catch_up
from onecard.waste import service as waste
from world import World, build_world, fund

SYSTEM = Actor.system("test")


def at(ctx: Context, day: int, hour: int, minute: int = 0) -> None:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime(2026, 3, day, hour, minute)))


def small_city(ctx: Context) -> World:
    w = build_world(ctx)
    for p in ("a1", "a2", "b1", "c1"):
        fund(ctx, w, p, subsidy=10_000)
    at(ctx, 9, 8)
    pay(ctx, w.terminals["A"], PaymentRequest("b-a1", w.cards["a1"], meal="breakfast"))
    at(ctx, 9, 12)
    paid = {}
    for p in ("a1", "a2", "b1", "c1"):
        paid[p] = pay(ctx, w.terminals["A"], PaymentRequest(f"l9-{p}", w.cards[p], meal="lunch"))
    reversal.refund(ctx, SYSTEM, int(paid["a2"].data["payment_id"]), 100, "pc-refund")
    at(ctx, 10, 12)
    pay(ctx, w.terminals["A"], PaymentRequest("l10-a1", w.cards["a1"], meal="lunch"))
    pay(ctx, w.terminals["B"], PaymentRequest("l10-b1", w.cards["b1"], meal="lunch"))
    pay(ctx, w.terminals["B"], PaymentRequest("l10-c1", w.cards["c1"], meal="lunch"))
    reversal.reverse(ctx, w.terminals["B"], "l10-c1")
    at(ctx, 10, 15)
    for cid, day, meal, kg in (
        (w.canteens["A"], date(2026, 3, 9), "lunch", "1"),
        (w.canteens["A"], date(2026, 3, 10), "lunch", "0.5"),
        (w.canteens["B"], date(2026, 3, 10), "lunch", "0.3"),
        (w.canteens["A"], date(2026, 3, 8), "breakfast", "0.2"),
    ):
        waste.record_weight(ctx, SYSTEM, cid, day, meal, kg)
    catch_up(ctx, grace_seconds=0)
    return w


def figures(r: per_capita.Row) -> tuple[object, ...]:
    return (
        r.diners,
        r.revenue_fen,
        r.per_diner_fen,
        r.visitors,
        r.visitor_share_bp,
        r.waste_grams,
        r.waste_diners,
        r.waste_per_diner_g,
    )


def test_the_figures_by_hand(ctx: Context) -> None:
    w = small_city(ctx)
    pc = per_capita.per_capita(ctx, "2026Q1")
    a, b = w.canteens["A"], w.canteens["B"]
    cells = {(r.canteen_id, r.meal): figures(r) for r in pc.rows}
    assert cells == {
        (a, "breakfast"): (1, 150, 150, 0, 0, 0, 0, None),
        (a, "lunch"): (5, 1800, 360, 2, 4000, 1500, 5, 300),
        (b, "lunch"): (1, 400, 400, 0, 0, 300, 1, 300),
    }
    assert {r.canteen_id: figures(r) for r in pc.canteens} == {
        a: (6, 1950, 325, 2, 3333, 1500, 5, 300),
        b: (1, 400, 400, 0, 0, 300, 1, 300),
    }
    assert [r.canteen_id for r in pc.canteens] == [a, b]  # most diners first
    assert [(r.meal, figures(r)) for r in pc.meals] == [
        ("breakfast", (1, 150, 150, 0, 0, 0, 0, None)),
        ("lunch", (6, 2200, 367, 2, 3333, 1800, 6, 300)),
    ]
    assert figures(pc.city) == (7, 2350, 336, 2, 2857, 1800, 6, 300)
    assert per_capita.per_capita(ctx, "2025Q4").rows == []


def test_ingredient_cost_per_diner_by_hand(ctx: Context) -> None:
    """Costs come in per (canteen, meal); a meal without one shows none (not zero)."""
    w = small_city(ctx)
    a, b = w.canteens["A"], w.canteens["B"]
    pc = per_capita.per_capita(ctx, "2026Q1", {(a, "lunch"): 1000, (b, "lunch"): 333})
    cost = {(r.canteen_id, r.meal): (r.cost_fen, r.cost_per_diner_fen) for r in pc.rows}
    assert cost[(a, "lunch")] == (1000, 200)  # 1000 ÷ 5
    assert cost[(a, "breakfast")] == (0, None)  # no use recorded: unknown
    assert cost[(b, "lunch")] == (333, 333)
    assert {r.canteen_id: r.cost_per_diner_fen for r in pc.canteens} == {a: 167, b: 333}
    assert [(r.meal, r.cost_per_diner_fen) for r in pc.meals] == [
        ("breakfast", None),
        ("lunch", 222),  # 1333 ÷ 6 = 222.17
    ]
    assert (pc.city.cost_fen, pc.city.cost_per_diner_fen) == (1333, 190)  # 1333 ÷ 7 = 190.4
    assert per_capita.per_capita(ctx, "2026Q1").city.cost_per_diner_fen is None


def test_the_page_shows_the_cost_of_the_batches_used(ctx: Context) -> None:
    from onecard.catalogue import service as catalogue
    from onecard.sourcing import service as sourcing
    from onecard.web.app import create_app
    from web.pages import TestClient, add_staff, sign_in

    w = small_city(ctx)
    add_staff(ctx, w)
    with ctx.db.read() as conn:
        bureau = Actor.load(conn, w.people["bu"], "Sbu", w.units["C"])
    a = w.canteens["A"]
    dish = catalogue.save_dish(ctx, bureau, a, catalogue.DishSpec("PC1", "红烧肉", 1200))
    pork = sourcing.add_ingredient(ctx, bureau, a, "猪五花肉", "kg", 1000)
    sup = sourcing.add_supplier(ctx, bureau, a, "郴州肉联厂", "JY14310020001234")
    spec = sourcing.BatchSpec(pork, sup, "PC-01", date(2026, 3, 9), "10", 2500, "pass")
    batch = sourcing.receive_batch(ctx, bureau, a, spec)
    # 2 kg at ¥25.00 a kg on the 10th's lunch: ¥50.00 over canteen A's 5 lunches.
    sourcing.record_use(ctx, bureau, a, date(2026, 3, 10), "lunch", dish, batch, "2")
    at(ctx, 10, 16)
    with TestClient(create_app(ctx)) as client:
        sign_in(client, ctx, "Sbu")
        text = client.get("/bureau/per-capita?quarter=2026Q1").text
        assert "10.00" in text  # ¥50.00 ÷ 5 lunches
        book = load_workbook(
            io.BytesIO(client.get("/bureau/per-capita.xlsx?quarter=2026Q1").content)
        )
        rows = list(book["食堂×餐次"].iter_rows(min_row=2, values_only=True))
        lunch_a = next(r for r in rows if r[1] == "午餐" and r[2] == 5)
        assert lunch_a[-2:] == (50, 10)


def test_half_up() -> None:
    assert [per_capita.half_up(n, 6) for n in (2, 3, 4, 2200)] == [0, 1, 1, 367]


def test_the_page_excel_and_api_say_the_same(ctx: Context) -> None:
    from onecard.web.app import create_app
    from web.pages import TestClient, add_staff, sign_in

    w = small_city(ctx)
    add_staff(ctx, w)
    at(ctx, 10, 16)
    with TestClient(create_app(ctx)) as client:
        sign_in(client, ctx, "Sbu")
        page = client.get("/bureau/per-capita?quarter=2026Q1")
        assert page.status_code == 200
        text = page.text
        assert "3.36" in text and "3.67" in text and "33.3" in text  # city, lunch, share
        assert "公务接待" in text and "食材成本" in text
        assert (
            'href="/bureau/per-capita?quarter=2026Q1"'
            in client.get("/bureau/dashboard?quarter=2026Q1").text
        )
        book = load_workbook(
            io.BytesIO(client.get("/bureau/per-capita.xlsx?quarter=2026Q1").content)
        )
        meals = list(book["各餐次"].iter_rows(min_row=2, values_only=True))
        assert meals[-1][:5] == ("全市", "全部餐次", 7, 23.5, 3.36)
        api = client.get("/api/v1/reports/per-capita?quarter=2026Q1").json()
        assert api["city"]["per_diner_fen"] == 336 and api["city"]["visitor_share_bp"] == 2857
        assert [m["per_diner_fen"] for m in api["meals"]] == [150, 367]
        assert len(api["not_recorded"]) == 2
        assert client.get("/api/v1/reports/per-capita?quarter=2026Q5").status_code == 422
        en = client.get("/bureau/per-capita?quarter=2026Q1&lang=en").text
        assert "Per-capita" in en and "公务接待" not in en
