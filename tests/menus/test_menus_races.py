"""Races on PostgreSQL: the same pre-order sent twice at once is placed (and held) once;
two pick-ups of one pre-order at once charge once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import func, select

from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.menus import queries
from onecard.menus import service as menus
from onecard.menus.models import Preorder
from onecard.org.actors import Actor
from onecard.pay.models import Payment
from world import World, purse

TOMORROW = date(2026, 3, 11)


def _spec(w: World) -> menus.PreorderSpec:
    return menus.PreorderSpec(
        w.canteens["A"], TOMORROW, "lunch", (("D1", 1), ("D3", 2)), "prepaid", "race-1"
    )


def _count(ctx: Context, table: Any) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_same_preorder_twice_at_once_is_held_once(pg_ctx: Context, w: World) -> None:
    ctx = pg_ctx
    a2 = Actor("a2", person_id=w.people["a2"], unit_id=w.units["A"])
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: menus.place(ctx, a2, _spec(w)), range(4)))
    assert len({g["id"] for g in got}) == 1
    assert _count(ctx, Preorder) == 1
    assert purse(ctx, w, "a2") == (3700, 5000)
    assert queries.held_fen(ctx, w.people["a2"]) == 1300


def test_two_pickups_at_once_charge_once(pg_ctx: Context, w: World) -> None:
    ctx = pg_ctx
    a2 = Actor("a2", person_id=w.people["a2"], unit_id=w.units["A"])
    menus.place(ctx, a2, _spec(w))
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(from_local(datetime.combine(TOMORROW, time(12))))

    def pick(n: int) -> Any:
        try:
            return menus.pickup(ctx, w.terminals["A"], f"race-{n}", w.cards["a2"])
        except OneCardError as exc:  # pragma: no cover - would be a failure below
            return exc

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(pick, range(4)))
    assert all(isinstance(g, menus.Pickup) for g in got), got
    assert len({g.outcome.payment_id for g in got}) == 1
    assert _count(ctx, Payment) == 1
    assert purse(ctx, w, "a2") == (3700, 5000)
    assert queries.held_fen(ctx, w.people["a2"]) == 0
