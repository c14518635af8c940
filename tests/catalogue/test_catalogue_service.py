"""The catalogue's rules, through its services: the price cap (R-A11) refuses a good
above the city's large-store price with the reference shown and writes nothing; a
falling reference lists the goods now above it; stock never goes below zero and a
stock-take is audited; goods are paid from the cash purse unless the unit allows the
subsidy (through the one payment decision)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from onecard.audit.models import AuditEvent
from onecard.catalogue import queries, service
from onecard.catalogue.models import Item, StockMove
from onecard.core.context import Context
from onecard.core.errors import (
    AboveReferencePrice,
    Forbidden,
    NoReferencePrice,
    StockShort,
)
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from web.pages import Staff
from world import World, purse

BUREAU = Actor.system("test")
WATER = "6901234567892"


def manager(w: World, staff: Staff) -> Actor:
    return Actor(
        "cm",
        person_id=w.people["cm"],
        unit_id=w.units["A"],
        grants=frozenset({("canteen_manager", None, w.canteens["A"])}),
    )


def publish(ctx: Context, w: World, fen: int, since: date, barcode: str | None = WATER) -> Any:
    row = service.ReferenceRow(name="矿泉水 550ml", price_fen=fen, barcode=barcode, store="步步高")
    return service.publish_references(ctx, BUREAU, w.region, since, [row])


def counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Item, StockMove, AuditEvent)
        )


def audit_of(ctx: Context, action: str) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(AuditEvent.before, AuditEvent.after, AuditEvent.kind).where(
                AuditEvent.action == action
            )
        ).all()
    return [
        {"before": json.loads(b) if b else None, "after": json.loads(a) if a else None, "kind": k}
        for b, a, k in rows
    ]


def good(sku: str = "G1", fen: int = 190, **kw: Any) -> service.GoodSpec:
    return service.GoodSpec(
        sku=sku, name="矿泉水 550ml", price_fen=fen, barcode=WATER, unit="瓶", **kw
    )


def test_a_good_above_its_reference_is_refused_with_the_reference_and_nothing_written(
    ctx: Context, w: World, staff: Staff
) -> None:
    cm = manager(w, staff)
    before = counts(ctx)
    with pytest.raises(NoReferencePrice):
        service.save_good(ctx, cm, w.canteens["A"], good())
    assert counts(ctx) == before
    publish(ctx, w, 200, date(2026, 3, 1))
    before = counts(ctx)
    with pytest.raises(AboveReferencePrice) as exc:
        service.save_good(ctx, cm, w.canteens["A"], good(fen=201))
    assert "2.00" in exc.value.message() and "2.01" in exc.value.message()
    assert "2026-03-01" in exc.value.message("en")
    assert counts(ctx) == before
    # At the reference is allowed; the good remembers the reference it was priced at.
    iid = service.save_good(ctx, cm, w.canteens["A"], good(fen=200))
    with ctx.db.read() as conn:
        assert conn.execute(select(Item.market_price_fen).where(Item.id == iid)).scalar() == 200
    (saved,) = audit_of(ctx, "goods_saved")
    assert saved["kind"] == "catalogue" and saved["after"]["price_fen"] == 200


def test_a_good_without_barcode_takes_the_reference_by_name(
    ctx: Context, w: World, staff: Staff
) -> None:
    publish(ctx, w, 350, date(2026, 3, 1), barcode=None)
    spec = service.GoodSpec(sku="G2", name="矿泉水 550ml", price_fen=351)
    with pytest.raises(AboveReferencePrice):
        service.save_good(ctx, manager(w, staff), w.canteens["A"], spec)


def test_a_falling_reference_lists_the_goods_now_over_it(
    ctx: Context, w: World, staff: Staff
) -> None:
    publish(ctx, w, 200, date(2026, 3, 1))
    service.save_good(ctx, manager(w, staff), w.canteens["A"], good(fen=190))
    assert queries.goods_over_reference(ctx) == []
    over = publish(ctx, w, 180, date(2026, 3, 10))
    assert [(o.sku, o.price_fen, o.reference_fen) for o in over] == [("G1", 190, 180)]
    assert [o.sku for o in queries.goods_over_reference(ctx, w.canteens["A"])] == ["G1"]
    assert queries.goods_over_reference(ctx, w.canteens["B"]) == []
    # A rise published the same day replaces it: nothing is over any more.
    publish(ctx, w, 195, date(2026, 3, 10))
    assert queries.goods_over_reference(ctx) == []


def test_only_who_runs_the_canteen_keeps_its_goods_and_only_the_bureau_publishes(
    ctx: Context, w: World, staff: Staff
) -> None:
    other = Actor(
        "ub", person_id=w.people["ub"], grants=frozenset({("unit_admin", w.units["B"], None)})
    )
    publish(ctx, w, 200, date(2026, 3, 1))
    with pytest.raises(Forbidden):
        service.save_good(ctx, other, w.canteens["A"], good())
    with pytest.raises(Forbidden):
        service.publish_references(
            ctx, manager(w, staff), w.region, date(2026, 3, 1), [service.ReferenceRow("x", 1)]
        )


def test_stock_never_goes_negative_and_a_stock_take_is_audited(
    ctx: Context, w: World, staff: Staff
) -> None:
    cm = manager(w, staff)
    publish(ctx, w, 200, date(2026, 3, 1))
    iid = service.save_good(ctx, cm, w.canteens["A"], good())
    assert service.move_stock(ctx, cm, iid, "in", 24) == 24
    assert service.move_stock(ctx, cm, iid, "out", 4) == 20
    before = counts(ctx)
    with pytest.raises(StockShort):
        service.move_stock(ctx, cm, iid, "out", 21)
    assert counts(ctx) == before
    assert service.move_stock(ctx, cm, iid, "count", 18, "盘点") == 18
    moves = queries.stock_moves(ctx, iid)
    assert [(m["kind"], m["qty"], m["stock_after"]) for m in moves] == [
        ("count", -2, 18),
        ("out", -4, 20),
        ("in", 24, 24),
    ]
    (take,) = audit_of(ctx, "stock_count")
    assert (take["before"], take["after"]) == ({"stock_qty": 20}, {"stock_qty": 18})


def test_goods_are_paid_from_cash_unless_the_unit_allows_the_subsidy(
    ctx: Context, w: World, staff: Staff
) -> None:
    cm = manager(w, staff)
    publish(ctx, w, 200, date(2026, 3, 1))
    service.save_good(ctx, cm, w.canteens["A"], good(fen=200))
    service.save_dish(ctx, cm, w.canteens["A"], service.DishSpec("D1", "红烧肉", 800))
    t = w.terminals["A"]
    # a1 holds 5000 subsidy, 300 cash: two bottles (400) are more than the cash.
    out = pay(ctx, t, PaymentRequest("g1", w.cards["a1"], items=(("G1", 2),)))
    assert not out.approved and out.data["code"] == "goods_cash_only"
    assert purse(ctx, w, "a1") == (5000, 300)
    # A dish and a bottle: the bottle from cash, the dish from the subsidy.
    out = pay(ctx, t, PaymentRequest("g2", w.cards["a1"], items=(("D1", 1), ("G1", 1))))
    assert out.approved and (out.data["subsidy_fen"], out.data["cash_fen"]) == (800, 200)
    assert purse(ctx, w, "a1") == (4200, 100)
    # The unit's rule lets the subsidy pay: audited, and the next payment follows it.
    service.set_shop_rule(ctx, BUREAU, w.units["A"], goods_from_subsidy=True)
    out = pay(ctx, t, PaymentRequest("g3", w.cards["a1"], items=(("G1", 2),)))
    assert out.approved and (out.data["subsidy_fen"], out.data["cash_fen"]) == (400, 0)
    (rule,) = audit_of(ctx, "shop_rule")
    assert rule["after"] == {"goods_from_subsidy": True}
