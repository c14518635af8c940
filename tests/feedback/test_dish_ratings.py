"""Dish ratings and the diner's nutrition (R-S1): item lines stored with the payment on
every path, rated once per dish per payment by the payer only, rankings and averages,
the week's nutrition totals."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from dishworld import diner, menu
from onecard.audit.records import records
from onecard.core.context import Context
from onecard.core.errors import (
    DishAlreadyRated,
    Forbidden,
    InvalidInput,
    NotADish,
    NotFound,
    NotRateable,
)
from onecard.feedback import dish_queries as queries
from onecard.feedback import dishes
from onecard.feedback.models import DishRating
from onecard.feedback.nutrition import REFERENCE_DAY
from onecard.org.actors import Actor
from onecard.pay.models import PaymentLine
from onecard.pay.reversal import reverse
from onecard.pay.service import PaymentRequest, pay
from world import World, build_world, fund

SYSTEM = Actor.system("test")
TODAY = date(2026, 3, 10)  # the fixture's clock: Tuesday 12:00 Beijing


def lines_of(ctx: Context, payment_id: int) -> list[tuple[int, int, int, int, int]]:
    with ctx.db.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    PaymentLine.line_no,
                    PaymentLine.item_id,
                    PaymentLine.qty,
                    PaymentLine.unit_price_fen,
                    PaymentLine.line_fen,
                )
                .where(PaymentLine.payment_id == payment_id)
                .order_by(PaymentLine.line_no)
            )
        ]


@pytest.fixture
def w(ctx: Context) -> World:
    world = build_world(ctx)
    fund(ctx, world, "a1", subsidy=5000, cash=1000)
    fund(ctx, world, "b1", subsidy=5000, cash=1000)
    return world


def test_the_single_path_stores_an_approvals_item_lines_and_a_reversal_keeps_them(
    ctx: Context, w: World
) -> None:
    ids = menu(ctx, w)
    t = w.terminals["A"]
    out = pay(ctx, t, PaymentRequest("l1", w.cards["a1"], items=(("D1", 2), ("G1", 1))))
    assert out.approved
    pid = int(out.data["payment_id"])
    assert lines_of(ctx, pid) == [(1, ids["D1"], 2, 800, 1600), (2, ids["G1"], 1, 150, 150)]
    # A retry answers the stored bytes and writes nothing again.
    again = pay(ctx, t, PaymentRequest("l1", w.cards["a1"], items=(("D1", 2), ("G1", 1))))
    assert again.replayed and len(lines_of(ctx, pid)) == 2
    # A refusal stores no lines.
    poor = pay(ctx, t, PaymentRequest("l2", w.cards["c1"], items=(("D1", 1),)))
    assert not poor.approved and lines_of(ctx, int(poor.data["payment_id"])) == []
    # A meal or open amount has none; a reversal keeps the lines (they are history).
    meal = pay(ctx, t, PaymentRequest("l3", w.cards["a1"], meal="lunch"))
    assert lines_of(ctx, int(meal.data["payment_id"])) == []
    reverse(ctx, t, "l1")
    assert len(lines_of(ctx, pid)) == 2


def test_a_diner_rates_each_dish_once_and_only_their_own(ctx: Context, w: World) -> None:
    ids = menu(ctx, w)
    t = w.terminals["A"]
    out = pay(ctx, t, PaymentRequest("r1", w.cards["a1"], items=(("D1", 1), ("D2", 2), ("G1", 1))))
    pid = int(out.data["payment_id"])
    me, other = diner(ctx, w, "a1"), diner(ctx, w, "b1")
    with pytest.raises(Forbidden):
        dishes.rate_dish(ctx, other, pid, ids["D1"], 5)
    with pytest.raises(NotFound):
        dishes.rate_dish(ctx, me, pid + 1000, ids["D1"], 5)
    for bad in (0, 6, "5", 4.5, None, True):
        with pytest.raises(InvalidInput):
            dishes.rate_dish(ctx, me, pid, ids["D1"], bad)
    with pytest.raises(InvalidInput):
        dishes.rate_dish(ctx, me, pid, ids["D1"], 4, "长" * 201)
    with pytest.raises(NotADish):  # a good is not rated
        dishes.rate_dish(ctx, me, pid, ids["G1"], 4)
    with pytest.raises(NotADish):  # a dish not in this meal
        dishes.rate_dish(ctx, me, pid, ids["D3"], 4)
    rid = dishes.rate_dish(ctx, me, pid, ids["D1"], 4, "  偏咸  ")
    with pytest.raises(DishAlreadyRated) as caught:
        dishes.rate_dish(ctx, me, pid, ids["D1"], 1, "改主意了")
    assert caught.value.code == "dish_already_rated"
    dishes.rate_dish(ctx, me, pid, ids["D2"], 5)
    with ctx.db.read() as conn:
        got = conn.execute(
            select(DishRating.id, DishRating.stars, DishRating.comment).where(
                DishRating.payment_id == pid
            )
        ).all()
    assert sorted(tuple(r) for r in got)[0] == (rid, 4, "偏咸")
    assert len(got) == 2
    audited = records(ctx, "dish_rating")
    assert len(audited) == 2 and {r["after"]["stars"] for r in audited} == {4, 5}
    meal = queries.meal_dishes(ctx, w.people["a1"], pid)
    assert [(line["name"], line["stars"], line["rateable"]) for line in meal["lines"]] == [
        ("红烧肉", 4, False),
        ("米饭", 5, False),
        ("矿泉水", None, False),
    ]
    with pytest.raises(Forbidden):
        queries.meal_dishes(ctx, w.people["b1"], pid)
    assert queries.lines_summary(ctx, [pid]) == {pid: (2, 2)}


def test_a_reversed_meal_is_not_rated(ctx: Context, w: World) -> None:
    ids = menu(ctx, w)
    t = w.terminals["A"]
    out = pay(ctx, t, PaymentRequest("v1", w.cards["a1"], items=(("D1", 1),)))
    reverse(ctx, t, "v1")
    with pytest.raises(NotRateable):
        dishes.rate_dish(ctx, diner(ctx, w, "a1"), int(out.data["payment_id"]), ids["D1"], 3)


def test_rankings_comments_and_averages(ctx: Context, w: World) -> None:
    ids = menu(ctx, w)
    t = w.terminals["A"]
    for n, (key, stars) in enumerate([("a1", 5), ("b1", 3), ("a2", 4)]):
        if key == "a2":
            fund(ctx, w, "a2", subsidy=5000)
        out = pay(ctx, t, PaymentRequest(f"k{n}", w.cards[key], items=(("D1", 1), ("D2", 1))))
        pid = int(out.data["payment_id"])
        dishes.rate_dish(ctx, diner(ctx, w, key), pid, ids["D1"], stars, f"评{n}")
        dishes.rate_dish(ctx, diner(ctx, w, key), pid, ids["D2"], 5)
    ranked = queries.rankings(ctx, TODAY - timedelta(days=6), TODAY)
    assert [(r["dish"], r["average"], r["count"]) for r in ranked] == [
        ("米饭", 5.0, 3),
        ("红烧肉", 4.0, 3),
    ]
    assert queries.rankings(ctx, TODAY - timedelta(days=6), TODAY, w.canteens["B"]) == []
    assert queries.rankings(ctx, TODAY + timedelta(days=1), TODAY + timedelta(days=2)) == []
    said = queries.comments(ctx, TODAY, TODAY, w.canteens["A"])
    assert [c["comment"] for c in said] == ["评2", "评1", "评0"]
    with ctx.db.read() as conn:
        avg = queries.average_ratings(conn, [ids["D1"], ids["D2"], ids["D3"]])
        assert queries.average_ratings(conn, []) == {}
    assert avg == {ids["D1"]: (4.0, 3), ids["D2"]: (5.0, 3)}
    book = load_workbook(io.BytesIO(queries.ratings_xlsx(ranked, said, TODAY, TODAY)))
    assert [ws.max_row for ws in book.worksheets] == [3, 4]


def test_the_weeks_nutrition_counts_what_was_eaten_this_beijing_week(
    ctx: Context, w: World
) -> None:
    menu(ctx, w)
    t = w.terminals["A"]
    pay(ctx, t, PaymentRequest("n1", w.cards["a1"], items=(("D1", 1), ("D2", 2), ("G1", 1))))
    pay(ctx, t, PaymentRequest("n2", w.cards["a1"], items=(("D3", 1),)))  # no figures
    pay(ctx, t, PaymentRequest("n3", w.cards["a1"], items=(("D1", 1),)))
    reverse(ctx, t, "n3")  # reversed: not eaten
    pay(ctx, t, PaymentRequest("n4", w.cards["b1"], items=(("D1", 3),)))  # someone else
    week = queries.week_nutrition(ctx, w.people["a1"], TODAY)
    assert (week.monday, week.sunday) == (date(2026, 3, 9), date(2026, 3, 15))
    assert week.lines == 3 and week.unknown_lines == 1
    assert week.totals == {
        "energy_kj": 2000 + 2 * round(200 * 4.184),
        "protein_mg": 15_000 + 8_000,
        "fat_mg": 30_000 + 1_000,
        "carbohydrate_mg": 5_000 + 90_000,
        "salt_mg": 1_500,
    }
    rows = {r["key"]: r for r in week.rows()}
    assert rows["salt"]["reference"] == REFERENCE_DAY["salt_mg"] * 7 // 1000 == 35
    assert rows["salt"]["total"] == 1.5 and rows["salt"]["ceiling"]
    assert rows["energy_kj"]["reference"] == 58_800
    # Last week: nothing.
    assert queries.week_nutrition(ctx, w.people["a1"], TODAY - timedelta(days=7)).lines == 0


def test_a_dish_rated_twice_in_one_payment_counts_once(ctx: Context, w: World) -> None:
    """The same dish on two lines of one payment: one rating for it."""
    ids = menu(ctx, w)
    out = pay(
        ctx,
        w.terminals["A"],
        PaymentRequest("d1", w.cards["a1"], items=(("D1", 1), ("D1", 1))),
    )
    pid = int(out.data["payment_id"])
    assert [line[1] for line in lines_of(ctx, pid)] == [ids["D1"], ids["D1"]]
    meal = queries.meal_dishes(ctx, w.people["a1"], pid)
    assert [line["rateable"] for line in meal["lines"]] == [True, False]
    dishes.rate_dish(ctx, diner(ctx, w, "a1"), pid, ids["D1"], 2)
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(DishRating)).scalar_one() == 1


@pytest.mark.postgres
def test_the_batched_path_stores_the_same_lines_in_the_same_transaction(
    pg_ctx: Context,
) -> None:
    """The lunch-rush path (``pay.batch``): approvals' lines written set-wise with the
    payments, none for refusals or meals, the same rows the single path writes."""
    from onecard.pay.batcher import PaymentBatcher
    from onecard.pay.models import Payment

    w = build_world(pg_ctx)
    fund(pg_ctx, w, "a1", subsidy=5000, cash=1000)
    fund(pg_ctx, w, "b1", subsidy=5000, cash=0)
    ids = menu(pg_ctx, w)
    t = w.terminals["A"]
    r = PaymentRequest
    script = [
        r("b1", w.cards["a1"], items=(("D1", 1), ("D2", 3))),
        r("b2", w.cards["b1"], items=(("G1", 1),)),  # a good, no cash: refused
        r("b3", w.cards["a1"], meal="lunch"),
        r("b4", w.cards["b1"], items=(("D2", 2), ("D1", 1))),
        r("b5", w.cards["c1"], items=(("D1", 1),)),  # no money: refused
    ]
    b = PaymentBatcher(pg_ctx, workers=1, window_ms=300, batch_max=64).start()
    try:
        futs = [b.submit(t, req) for req in script]
        got = [f.result(timeout=30) for f in futs]
        assert b.stats.batches == 1 and b.stats.set_based == len(script)
    finally:
        b.stop()
    pids = [int(o.data["payment_id"]) for o in got]
    assert [o.approved for o in got] == [True, False, True, True, False]
    assert lines_of(pg_ctx, pids[0]) == [(1, ids["D1"], 1, 800, 800), (2, ids["D2"], 3, 50, 150)]
    assert lines_of(pg_ctx, pids[3]) == [(1, ids["D2"], 2, 50, 100), (2, ids["D1"], 1, 800, 800)]
    assert [lines_of(pg_ctx, p) for p in (pids[1], pids[2], pids[4])] == [[], [], []]
    # Every line sums to its approval's amount.
    with pg_ctx.db.read() as conn:
        for p in (pids[0], pids[3]):
            amount = conn.execute(select(Payment.amount_fen).where(Payment.id == p)).scalar_one()
            assert sum(line[4] for line in lines_of(pg_ctx, p)) == amount
