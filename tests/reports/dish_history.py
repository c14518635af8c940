"""A canteen's lunch history for the dish forecast's tests (reports and sourcing): item
sales with dish lines, the lunch menus and tomorrow's pre-orders, written directly."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from onecard.core.clock import from_local
from onecard.core.context import Context
from onecard.menus.models import MenuDish, Preorder, PreorderLine
from onecard.pay.models import Payment, PaymentLine
from world import World

TODAY = date(2026, 9, 16)  # Wednesday; tomorrow is an ordinary Thursday


def lunch_history(ctx: Context, w: World, ids: dict[str, int]) -> None:
    """Canteen A, 28 days before ``TODAY``, with the dishes ``ids`` (``pork``, ``tofu``,
    ``fish``, ``rice``): each working day 20 item sales at 12:00 Beijing time (the first
    10 take a pork, the first 5 of them also 2 tofu, the other 10 a rice, which is on no
    menu) and one pork at 10:00 (no meal's); pork and tofu on every day's lunch menu and
    tomorrow's, the new fish only on tomorrow's; two pre-orders for tomorrow's lunch (3
    pork; 1 pork and 2 tofu) and a cancelled one (5 pork)."""
    cid = w.canteens["A"]
    tomorrow = TODAY + timedelta(days=1)
    days = [TODAY - timedelta(days=i) for i in range(1, 29)]
    work = [d for d in days if d.weekday() < 5]
    with ctx.db.begin() as conn:
        payments = []
        for d in work:
            for i in range(21):
                at = datetime(d.year, d.month, d.day, 12 if i < 20 else 10, 0)
                payments.append(
                    {
                        "region_id": w.region,
                        "terminal_id": w.terminals["A"].id,
                        "txn_id": f"d-{d.isoformat()}-{i}",
                        "request_hash": "x",
                        "status": "approved",
                        "canteen_id": cid,
                        "credential_kind": "card",
                        "amount_fen": 1200,
                        "cash_fen": 1200,
                        "business_date": d,
                        "created_at": from_local(at),
                        "response": "{}",
                    }
                )
        conn.execute(insert(Payment), payments)
        got = dict(conn.execute(select(Payment.txn_id, Payment.id)).all())
        lines = []
        for d in work:
            for i in range(21):
                pid = got[f"d-{d.isoformat()}-{i}"]
                if i < 10 or i == 20:
                    lines.append(_line(pid, 1, ids["pork"], 1, 1200))
                if i < 5:
                    lines.append(_line(pid, 2, ids["tofu"], 2, 500))
                if 10 <= i < 20:
                    lines.append(_line(pid, 1, ids["rice"], 1, 100))
        conn.execute(insert(PaymentLine), lines)
        menu = [
            {"canteen_id": cid, "day": d, "meal": "lunch", "item_id": ids[k], "position": n}
            for d in [*days, tomorrow]
            for n, k in enumerate(("pork", "tofu"))
        ]
        menu.append(
            {
                "canteen_id": cid,
                "day": tomorrow,
                "meal": "lunch",
                "item_id": ids["fish"],
                "position": 2,
            }
        )
        conn.execute(insert(MenuDish), menu)
        for n, (status, dishes) in enumerate(
            [
                ("placed", [("pork", 3)]),
                ("placed", [("pork", 1), ("tofu", 2)]),
                ("cancelled", [("pork", 5)]),
            ]
        ):
            pre = conn.execute(
                insert(Preorder)
                .values(
                    region_id=w.region,
                    canteen_id=cid,
                    person_id=w.people["a1"],
                    day=tomorrow,
                    meal="lunch",
                    request_id=f"p{n}",
                    request_hash="x",
                    pay_mode="at_pickup",
                    status=status,
                    amount_fen=1000,
                    created_at=datetime(2026, 9, 15, 1, 0),
                )
                .returning(Preorder.id)
            ).scalar_one()
            conn.execute(
                insert(PreorderLine),
                [
                    {
                        "preorder_id": pre,
                        "item_id": ids[k],
                        "sku": k,
                        "name": k,
                        "qty": q,
                        "price_fen": 500,
                    }
                    for k, q in dishes
                ],
            )


def _line(pid: int, no: int, item: int, qty: int, price: int) -> dict[str, int]:
    return {
        "payment_id": pid,
        "line_no": no,
        "item_id": item,
        "qty": qty,
        "unit_price_fen": price,
        "line_fen": qty * price,
    }
