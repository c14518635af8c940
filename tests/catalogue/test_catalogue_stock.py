"""A good's on-hand stock counts the till's sales (issue 16 §1): the count the stock
moves recorded less the goods of live payments since the last fold. The till never
waits on the good's row and is never refused for stock; a reversal or a whole refund
puts the goods back, a partial refund gives money only; a stock ``out`` or stock-take
below zero, counting the sales, is refused; sales through the batch path count alike."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from onecard.catalogue import queries, service
from onecard.catalogue.models import Item
from onecard.core.clock import FixedClock
from onecard.core.context import Context
from onecard.core.errors import StockShort
from onecard.org.actors import Actor
from onecard.pay import reversal
from onecard.pay.batcher import PaymentBatcher
from onecard.pay.service import PaymentRequest, pay
from web.pages import Staff
from world import World

BUREAU = Actor.system("test")
WATER = "6901234567892"


@pytest.fixture(autouse=True)
def _staff(staff: Staff) -> None:
    """The canteen manager ``cm`` (and the other role holders)."""


def manager(w: World) -> Actor:
    return Actor(
        "cm",
        person_id=w.people["cm"],
        unit_id=w.units["A"],
        grants=frozenset({("canteen_manager", None, w.canteens["A"])}),
    )


def water(ctx: Context, w: World, stock: int) -> int:
    row = service.ReferenceRow(name="矿泉水 550ml", price_fen=200, barcode=WATER)
    service.publish_references(ctx, BUREAU, w.region, date(2026, 3, 1), [row])
    spec = service.GoodSpec(sku="G1", name="矿泉水 550ml", price_fen=190, barcode=WATER)
    iid = service.save_good(ctx, manager(w), w.canteens["A"], spec)
    if stock:
        service.move_stock(ctx, manager(w), iid, "in", stock)
    return iid


def shown(ctx: Context, w: World) -> dict[str, object]:
    (g,) = queries.canteen_items(ctx, w.canteens["A"])["goods"]
    return g


def on_hand(ctx: Context, w: World) -> int:
    return int(shown(ctx, w)["stock_qty"])  # type: ignore[call-overload]


def sell(ctx: Context, w: World, txn: str, n: int, card: str = "a2") -> int:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.advance(seconds=1)  # the history is ordered by time
    out = pay(ctx, w.terminals["A"], PaymentRequest(txn, w.cards[card], items=(("G1", n),)))
    assert out.approved, out.data
    return int(out.data["payment_id"]) if "payment_id" in out.data else 0


def item_row(ctx: Context, iid: int) -> tuple[int, int]:
    with ctx.db.read() as conn:
        r = conn.execute(select(Item.stock_qty, Item.sold_through).where(Item.id == iid)).one()
    return int(r[0]), int(r[1])


def test_a_sale_lowers_the_on_hand_and_a_reversal_puts_it_back(ctx: Context, w: World) -> None:
    iid = water(ctx, w, 10)
    sell(ctx, w, "s1", 3)
    assert on_hand(ctx, w) == 7
    # The till wrote no stock: the recorded count is untouched, the sale is derived.
    assert item_row(ctx, iid) == (10, 0)
    reversal.reverse(ctx, w.terminals["A"], "s1")
    assert on_hand(ctx, w) == 10
    sell(ctx, w, "s2", 2)
    # A stock out counts the sales: 8 on hand, 9 is refused and nothing written.
    with pytest.raises(StockShort):
        service.move_stock(ctx, manager(w), iid, "out", 9)
    ctx.clock.advance(seconds=1)
    assert service.move_stock(ctx, manager(w), iid, "out", 8) == 0
    hist = queries.stock_history(ctx, iid)
    assert [(h["kind"], h["qty"], h["status"]) for h in hist][:2] == [
        ("out", -8, None),
        ("sale", -2, "approved"),
    ]
    assert ("sale", -3, "reversed") in [(h["kind"], h["qty"], h["status"]) for h in hist]


def test_a_sale_is_never_refused_for_stock_and_a_negative_is_flagged(
    ctx: Context, w: World
) -> None:
    iid = water(ctx, w, 1)
    sell(ctx, w, "s1", 3)
    g = shown(ctx, w)
    assert (g["stock_qty"], g["needs_count"], g["sold_since"]) == (-2, True, 3)
    # The stock-take sets what is on the shelf, the sales counted.
    assert service.move_stock(ctx, manager(w), iid, "count", 4, "盘点") == 4
    assert (on_hand(ctx, w), shown(ctx, w)["needs_count"]) == (4, False)
    sell(ctx, w, "s2", 1)
    assert on_hand(ctx, w) == 3


def test_a_move_folds_the_settled_sales_and_a_whole_refund_gives_them_back(
    ctx: Context, w: World
) -> None:
    assert isinstance(ctx.clock, FixedClock)
    iid = water(ctx, w, 10)
    sell(ctx, w, "s1", 2)
    sell(ctx, w, "s2", 3)
    # Moments later: the sales are too fresh to fold (a payment may still be in flight).
    service.move_stock(ctx, manager(w), iid, "in", 1)
    assert item_row(ctx, iid) == (11, 0) and on_hand(ctx, w) == 6
    ctx.clock.advance(minutes=10)
    sell(ctx, w, "s3", 1)
    service.move_stock(ctx, manager(w), iid, "in", 1)
    recorded, through = item_row(ctx, iid)
    assert (recorded, on_hand(ctx, w)) == (7, 6)  # 12 − 5 folded; s3 still "sold since"
    with ctx.db.read() as conn:
        from onecard.pay.models import Payment

        ids = dict(conn.execute(select(Payment.txn_id, Payment.id)).all())
    assert through == ids["s2"]
    cm = manager(w)
    # A partial refund is money only: the goods stay sold.
    reversal.refund(ctx, cm, ids["s2"], 190, "r-part")
    assert on_hand(ctx, w) == 6
    # Refunding the rest makes it whole: the folded goods come back to the count.
    reversal.refund(ctx, cm, ids["s2"], 380, "r-rest")
    assert on_hand(ctx, w) == 9 and item_row(ctx, iid)[0] == 10
    # A whole refund of a sale not yet folded: it simply stops counting.
    reversal.refund(ctx, cm, ids["s3"], 190, "r-s3")
    assert on_hand(ctx, w) == 10 and item_row(ctx, iid)[0] == 10
    statuses = {h["txn_id"]: h["status"] for h in queries.stock_history(ctx, iid)}
    assert statuses == {"s1": "approved", "s2": "refunded", "s3": "refunded", None: None}


def test_a_sale_through_the_batch_path_counts_and_its_reversal_puts_it_back(
    pg_ctx: Context, w: World
) -> None:
    ctx = pg_ctx
    iid = water(ctx, w, 20)
    b = PaymentBatcher(ctx, workers=1, window_ms=200, batch_max=64).start()
    try:
        futs = [
            b.submit(w.terminals["A"], PaymentRequest(f"b{i}", w.cards["a2"], items=(("G1", 2),)))
            for i in range(4)
        ]
        answers = [json.loads(f.result(timeout=30).body) for f in futs]
    finally:
        b.stop()
    assert all(a["result"] == "approved" for a in answers), answers
    assert on_hand(ctx, w) == 12 and item_row(ctx, iid) == (20, 0)
    reversal.reverse(ctx, w.terminals["A"], "b0")
    assert on_hand(ctx, w) == 14
    ctx.clock.advance(minutes=10)  # b1..b3 settle; a stock-take folds them
    assert service.move_stock(ctx, manager(w), iid, "count", 13) == 13
    assert item_row(ctx, iid)[0] == 13 and on_hand(ctx, w) == 13
