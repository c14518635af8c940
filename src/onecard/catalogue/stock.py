"""A good's on-hand stock: the count its stock moves recorded less the till's sales.

Contract (issue 16 §1, R-F5): the payment path never locks or updates a good (a popular
good would serialise the lunch rush); it only writes its ``payment_lines``. So the
on-hand count is derived, never stored:

    on hand = items.stock_qty − Σ qty of the good's lines of *live* payments with
              payment_id > items.sold_through

A payment is live while it is approved and not wholly refunded: a reversal (冲正) or a
refund of the whole amount puts its goods back; a partial refund gives money only (the
goods stay sold — a partial refund is a price or quality settlement; a good brought
back is a stock ``in``).

Each stock move (``service.move_stock``) folds the sales since the last fold into
``stock_qty`` and moves ``sold_through`` on, under the good's row lock. It folds only
up to the newest sale made at least ``FOLD_MARGIN`` before the move: payment ids are
handed out before their transaction commits, so a watermark at the newest id would lose
a payment still in flight below it; anything newer simply stays "sold since". A sale
already folded that is then reversed or wholly refunded is given back to ``stock_qty``
by ``put_back`` in the undo's transaction (an undo path, never the rush's).

A sale is never refused for stock (the good is already in the diner's hand): the on-hand
count may go negative, which the shop page flags for a stock-take. A stock ``out`` or a
stock-take below zero, counting the sales, is refused.

The catalogue stands below ``pay``: the two payment tables are named here by their
columns, not imported.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Integer,
    String,
    and_,
    case,
    column,
    func,
    select,
    table,
    update,
)

from onecard.catalogue.models import Item

FOLD_MARGIN = timedelta(minutes=5)

payment_lines = table(
    "payment_lines",
    column("payment_id", BigInteger),
    column("line_no", Integer),
    column("item_id", BigInteger),
    column("qty", Integer),
)
payments = table(
    "payments",
    column("id", BigInteger),
    column("status", String),
    column("amount_fen", BigInteger),
    column("refunded_fen", BigInteger),
    column("created_at", DateTime),
    column("txn_id", String),
)

LIVE = and_(
    payments.c.status == "approved",
    payments.c.refunded_fen < payments.c.amount_fen,
)


def sold_after(conn: Connection, item_id: int, after: int, upto: int | None = None) -> int:
    """Goods of live payments in ``(after, upto]`` (``upto`` None: every later one)."""
    q = (
        select(func.coalesce(func.sum(payment_lines.c.qty), 0))
        .select_from(payment_lines)
        .join(payments, payments.c.id == payment_lines.c.payment_id)
        .where(payment_lines.c.item_id == item_id, payment_lines.c.payment_id > after, LIVE)
    )
    if upto is not None:
        q = q.where(payment_lines.c.payment_id <= upto)
    return int(conn.execute(q).scalar_one())


def unfolded(conn: Connection, canteen_id: int) -> dict[int, int]:
    """Per good of a canteen: goods sold by live payments since its last fold."""
    q = (
        select(Item.id, func.sum(payment_lines.c.qty))
        .select_from(Item)
        .join(
            payment_lines,
            and_(
                payment_lines.c.item_id == Item.id,
                payment_lines.c.payment_id > Item.sold_through,
            ),
        )
        .join(payments, payments.c.id == payment_lines.c.payment_id)
        .where(Item.canteen_id == canteen_id, Item.kind == "goods", LIVE)
        .group_by(Item.id)
    )
    return {int(i): int(n) for i, n in conn.execute(q)}


def fold_point(conn: Connection, item_id: int, after: int, now: datetime) -> int:
    """The newest payment id, past ``after``, of this good's sales made at least
    ``FOLD_MARGIN`` before ``now`` (``after`` when there is none)."""
    newest = conn.execute(
        select(func.max(payment_lines.c.payment_id))
        .select_from(payment_lines)
        .join(payments, payments.c.id == payment_lines.c.payment_id)
        .where(
            payment_lines.c.item_id == item_id,
            payment_lines.c.payment_id > after,
            payments.c.created_at <= now - FOLD_MARGIN,
        )
    ).scalar()
    return after if newest is None else int(newest)


def put_back(conn: Connection, payment_id: int) -> None:
    """A payment being reversed or wholly refunded: its goods already folded into a
    count go back to it. Called in the undo's transaction, before it commits. Every
    good of the payment is updated (a no-op when not folded) so that a concurrent fold
    waits for the undo and then sees the payment no longer live."""
    lines = conn.execute(
        select(payment_lines.c.item_id, func.sum(payment_lines.c.qty))
        .where(payment_lines.c.payment_id == payment_id)
        .group_by(payment_lines.c.item_id)
        .order_by(payment_lines.c.item_id)
    ).all()
    for item_id, qty in lines:
        conn.execute(
            update(Item)
            .where(Item.id == item_id, Item.kind == "goods")
            .values(
                stock_qty=Item.stock_qty
                + case((Item.sold_through >= payment_id, int(qty)), else_=0)
            )
        )
