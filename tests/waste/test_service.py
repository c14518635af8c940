"""Waste supervision's services: a bad weight is refused with nothing written, a clean
plate once per meal, the streak, waste per diner by hand, notice and acknowledgement,
and the score the quarter's waste leaves."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from onecard.audit.records import records
from onecard.core.clock import FixedClock
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, StateConflict
from onecard.funding.models import QualityScore
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from onecard.waste import queries, score, service
from onecard.waste.models import CleanPlate, WasteInspection, WasteWeight
from world import World, build_world, fund

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
TODAY = date(2026, 3, 10)  # the fixture's clock: 12:00 Beijing


def actor(ctx: Context, w: World, key: str) -> Actor:
    with ctx.db.read() as conn:
        return Actor.load(conn, w.people[key], f"S{key}", w.units[key[0].upper()])


def supervised(ctx: Context) -> tuple[World, Actor]:
    """The world with a2 an anti-waste supervisor of unit A."""
    w = build_world(ctx)
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a2"], "waste_supervisor", unit_id=w.units["A"])
    return w, actor(ctx, w, "a2")


def count(ctx: Context, table: type) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize(
    ("kg", "grams"),
    [(12.5, 12500), ("0.001", 1), (0, 0), ("2000", 2_000_000), (3, 3000)],
)
def test_kilograms_become_integer_grams(kg: object, grams: int) -> None:
    assert service.grams_of(kg) == grams


@pytest.mark.parametrize("kg", [-1, "-0.5", "2000.001", "abc", "nan", "inf", True, None, "1.0001"])
def test_a_bad_weight_is_refused(kg: object) -> None:
    with pytest.raises(InvalidInput):
        service.grams_of(kg)


def test_an_inspection_is_recorded_and_audited(ctx: Context) -> None:
    w, sup = supervised(ctx)
    iid = service.record_inspection(
        ctx, sup, w.canteens["A"], TODAY, "lunch", "8.25", "剩饭较多", photo=PNG
    )
    got = queries.inspections(ctx, w.canteens["A"])
    assert [(r["id"], r["leftover_grams"], r["photo_type"]) for r in got] == [
        (iid, 8250, "image/png")
    ]
    assert [r["totals"]["grams"] for r in records(ctx, "waste_inspection")] == [8250]


def test_a_bad_inspection_writes_nothing(ctx: Context) -> None:
    w, sup = supervised(ctx)
    c = w.canteens["A"]
    for kw in (
        {"leftover_kg": -3},
        {"leftover_kg": 5000},
        {"leftover_kg": 3, "photo": b"GIF89a not a photo"},
        {"leftover_kg": 3, "photo": PNG + b"\x00" * (2 * 1024 * 1024)},
        {"leftover_kg": 3, "meal": "supper"},
    ):
        args = {"meal": "lunch", **kw}
        with pytest.raises(InvalidInput):
            service.record_inspection(ctx, sup, c, TODAY, **args)  # type: ignore[arg-type]
    assert count(ctx, WasteInspection) == 0
    assert records(ctx, "waste_inspection") == []


def test_only_the_units_supervisor_inspects(ctx: Context) -> None:
    w, sup = supervised(ctx)
    with pytest.raises(Forbidden):  # a2 supervises unit A, not B's canteen
        service.record_inspection(ctx, sup, w.canteens["B"], TODAY, "lunch", 1)
    with pytest.raises(Forbidden):  # a diner is no supervisor
        service.record_inspection(ctx, actor(ctx, w, "a1"), w.canteens["A"], TODAY, "lunch", 1)
    assert count(ctx, WasteInspection) == 0


def test_a_daily_weight_is_replaced_with_the_old_one_audited(ctx: Context) -> None:
    w = build_world(ctx)
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a1"], "canteen_manager", canteen_id=w.canteens["A"])
    mgr = actor(ctx, w, "a1")
    service.record_weight(ctx, mgr, w.canteens["A"], TODAY, "lunch", 10)
    service.record_weight(ctx, mgr, w.canteens["A"], TODAY, "lunch", "9.5")
    with ctx.db.read() as conn:
        assert conn.execute(select(WasteWeight.leftover_grams)).scalars().all() == [9500]
    audits = records(ctx, "waste_weight")
    assert [(a["before"], a["after"]) for a in audits] == [
        (None, {"grams": 10000}),
        ({"grams": 10000}, {"grams": 9500}),
    ]
    with pytest.raises(InvalidInput):
        service.record_weight(ctx, mgr, w.canteens["A"], TODAY, "lunch", -1)
    with pytest.raises(Forbidden):  # a1 manages canteen A only
        service.record_weight(ctx, mgr, w.canteens["B"], TODAY, "lunch", 1)
    assert count(ctx, WasteWeight) == 1


def test_one_clean_plate_per_meal_per_day(ctx: Context) -> None:
    w = build_world(ctx)
    diner = actor(ctx, w, "a1")
    service.check_in(ctx, diner, "lunch", JPEG)
    with pytest.raises(StateConflict):
        service.check_in(ctx, diner, "lunch", PNG)
    service.check_in(ctx, diner, "dinner", PNG)  # another meal the same day
    with pytest.raises(InvalidInput):
        service.check_in(ctx, diner, "breakfast", b"")  # a photo is required
    with pytest.raises(InvalidInput):
        service.check_in(ctx, diner, "breakfast", b"plain text")
    assert count(ctx, CleanPlate) == 2
    assert len(records(ctx, "clean_plate")) == 2
    got = queries.clean_plates(ctx, w.people["a1"], TODAY)
    assert (got["streak"], got["total"], got["today"]) == (1, 2, ["dinner", "lunch"])


def test_the_streak_counts_consecutive_days(ctx: Context) -> None:
    d = TODAY
    day = timedelta(days=1)
    assert queries.streak([], d) == 0
    assert queries.streak([d], d) == 1
    assert queries.streak([d - day, d - 2 * day], d) == 2  # today not yet checked in
    assert queries.streak([d, d - day, d - 3 * day], d) == 2  # a gap ends it
    assert queries.streak([d - 2 * day], d) == 0  # nothing yesterday or today
    # Through the service, over three days of the clock.
    w = build_world(ctx)
    diner = actor(ctx, w, "b1")
    assert isinstance(ctx.clock, FixedClock)
    for _ in range(3):
        service.check_in(ctx, diner, "lunch", PNG)
        ctx.clock.advance(days=1)
    assert queries.clean_plates(ctx, w.people["b1"], ctx.clock.today())["streak"] == 3


def _lunches(ctx: Context, w: World, keys: list[str], tag: str) -> None:
    for k in keys:
        fund(ctx, w, k, subsidy=1000, tag=tag)
        pay(ctx, w.terminals["A"], PaymentRequest(f"{tag}-{k}", w.cards[k], meal="lunch"))


def test_waste_per_diner_by_hand(ctx: Context) -> None:
    w = build_world(ctx)
    sysa = Actor.system("test")
    _lunches(ctx, w, ["a1", "a2", "b1"], "d1")  # three diners at canteen A's lunch
    service.record_weight(ctx, sysa, w.canteens["A"], TODAY, "lunch", "0.45")  # 450 g
    service.record_weight(ctx, sysa, w.canteens["A"], TODAY, "dinner", 2)  # nobody paid
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.advance(days=1)
    _lunches(ctx, w, ["a1", "c1"], "d2")
    service.record_weight(ctx, sysa, w.canteens["A"], TODAY + timedelta(days=1), "lunch", 0.5)
    rows = queries.per_diner(ctx, TODAY, TODAY + timedelta(days=1))
    got = [(r.day.day, r.meal, r.grams, r.diners, r.per_diner) for r in rows]
    assert got == [
        (10, "dinner", 2000, 0, None),
        (10, "lunch", 450, 3, 150),
        (11, "lunch", 500, 2, 250),
    ]
    [summary] = queries.per_canteen(rows)
    # (450 + 500) g ÷ (3 + 2) diners; the dinner nobody paid for is left out.
    assert (summary.days, summary.grams, summary.diners, summary.per_diner) == (2, 950, 5, 190)
    q = queries.quarter_waste(ctx, w.canteens["A"], "2026Q1")
    assert (q.grams, q.diners, q.notices) == (950, 5, 0)
    assert queries.quarter_waste(ctx, w.canteens["A"], "2026Q2").diners == 0


def test_a_notice_is_shown_and_acknowledged_once(ctx: Context) -> None:
    w = build_world(ctx)
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a1"], "unit_admin", unit_id=w.units["A"])
        b.grant_role(conn, w.people["b1"], "unit_admin", unit_id=w.units["B"])
        bu = b.create_person(conn, w.region, w.units["C"], "Sbu", "局长", standard_fen=0)
        b.grant_role(conn, bu, "bureau_admin")
    with ctx.db.read() as conn:
        bureau = Actor.load(conn, bu, "Sbu", w.units["C"])
    with pytest.raises(Forbidden):
        service.issue_notice(ctx, actor(ctx, w, "a1"), w.canteens["A"], "浪费严重")
    with pytest.raises(InvalidInput):
        service.issue_notice(ctx, bureau, w.canteens["A"], "  ")
    nid = service.issue_notice(ctx, bureau, w.canteens["A"], "3月10日午餐剩余过多")
    shown = queries.public_notices(ctx, TODAY)
    assert [n["text"] for n in shown[w.canteens["A"]]] == ["3月10日午餐剩余过多"]
    assert w.canteens["B"] not in shown
    with pytest.raises(Forbidden):  # another unit's admin
        service.acknowledge_notice(ctx, actor(ctx, w, "b1"), nid)
    service.acknowledge_notice(ctx, actor(ctx, w, "a1"), nid)
    with pytest.raises(StateConflict):
        service.acknowledge_notice(ctx, actor(ctx, w, "a1"), nid)
    [n] = queries.notices(ctx, unit_id=w.units["A"])
    assert n["acknowledged_by"] == "Sa1" and n["acknowledged_at"] is not None
    assert [r["action"] for r in records(ctx) if r["action"].startswith("waste_")] == [
        "waste_notice",
        "waste_notice_ack",
    ]


@pytest.mark.parametrize(
    ("grams", "diners", "notices", "assessed", "g", "w", "n", "final"),
    [
        (0, 0, 0, 95, None, 0, 0, 95),  # nothing weighed: no deduction
        (500, 10, 0, 95, 50, 0, 0, 95),  # 50 g a diner: free
        (599, 10, 0, 95, 59, 0, 0, 95),  # 59 g: under a full 10 g step
        (600, 10, 0, 95, 60, 1, 0, 94),
        (1550, 10, 1, 90, 155, 10, 5, 75),
        (100_000, 10, 3, 90, 10_000, 20, 10, 60),  # both capped
        (100_000, 10, 3, 20, 10_000, 20, 10, 0),  # never below zero
    ],
)
def test_the_score_formula_by_hand(
    grams: int, diners: int, notices: int, assessed: int, g: int | None, w: int, n: int, final: int
) -> None:
    s = score.deduction(grams, diners, notices, assessed)
    assert (s.grams_per_diner, s.waste_points, s.notice_points, s.final) == (g, w, n, final)


def test_the_quarter_waste_lowers_the_recorded_score(ctx: Context) -> None:
    w = build_world(ctx)
    sysa = Actor.system("test")
    _lunches(ctx, w, ["a1", "a2"], "q")
    service.record_weight(ctx, sysa, w.canteens["A"], TODAY, "lunch", "0.3")  # 150 g a diner
    service.issue_notice(ctx, sysa, w.canteens["A"], "剩余过多")  # the system is the bureau
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a1"], "unit_admin", unit_id=w.units["A"])
    ua = actor(ctx, w, "a1")
    got = service.record_quality_score(ctx, ua, w.canteens["A"], "2026Q1", 92)
    # 300 g ÷ 2 = 150 g a diner: 10 points; one notice: 5 points; 92 − 15 = 77.
    assert (got.grams_per_diner, got.waste_points, got.notice_points, got.final) == (
        150,
        10,
        5,
        77,
    )
    with ctx.db.read() as conn:
        assert conn.execute(select(QualityScore.score)).scalars().all() == [77]
    with pytest.raises(InvalidInput):
        service.record_quality_score(ctx, ua, w.canteens["A"], "2026Q1", 101)
    with pytest.raises(Forbidden):  # unit B's canteen
        service.record_quality_score(ctx, ua, w.canteens["B"], "2026Q1", 90)
