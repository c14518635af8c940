"""A canteen's own rules (R-U1), set by its owning unit: who is served, which purse pays
first, meal periods with their windows and per-person limits, and prices per diner class.

Contract: each function is one transaction and checks the actor manages the canteen
(its owning unit's admin, or the bureau). Changes apply to the next payment; past
payments keep the price they were charged. A change is an audit event (kind ``rules``)
with the fields before and after — a lunch price set to 1 fen shows as 300 → 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from onecard.audit import service as audit
from onecard.core.context import Context
from onecard.core.errors import InvalidAmount, InvalidInput, NotFound
from onecard.core.money import MAX_AMOUNT_FEN
from onecard.org.actors import Actor
from onecard.org.models import Canteen
from onecard.pay.models import DINER_CLASSES, MealPeriod, MealPrice


@dataclass(frozen=True)
class PeriodSpec:
    code: str
    name: str
    starts: time
    ends: time
    per_person_limit: int
    prices: dict[str, int]  # diner class -> fen

    def check(self) -> None:
        if not self.code or not self.name:
            raise InvalidInput("餐次编码和名称不能为空")
        if not self.starts < self.ends:
            raise InvalidInput(f"{self.name}: 开始时间须早于结束时间")
        if not 0 <= self.per_person_limit <= 20:
            raise InvalidInput(f"{self.name}: 每人次数上限须在 0–20 之间")
        for klass, fen in self.prices.items():
            if klass not in DINER_CLASSES:
                raise InvalidInput(f"未知就餐人员类别 {klass}")
            if type(fen) is not int or not 0 < fen <= MAX_AMOUNT_FEN:
                raise InvalidAmount()


def set_canteen_rules(
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    *,
    serves_visitors: bool,
    serves_guests: bool,
    purse_order: str,
) -> None:
    if purse_order not in ("subsidy_first", "cash_first"):
        raise InvalidInput("扣款顺序只能是 subsidy_first 或 cash_first")
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(
                Canteen.unit_id,
                Canteen.name,
                Canteen.serves_visitors,
                Canteen.serves_guests,
                Canteen.purse_order,
            )
            .where(Canteen.id == canteen_id)
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(what="食堂")
        actor.require_unit(row.unit_id)
        after = {
            "serves_visitors": serves_visitors,
            "serves_guests": serves_guests,
            "purse_order": purse_order,
        }
        before = {k: getattr(row, k) for k in after}
        conn.execute(update(Canteen).where(Canteen.id == canteen_id).values(**after))
        if before != after:
            old, new = audit.changed_fields(before, after)
            audit.record(
                conn,
                ctx,
                actor,
                "rules",
                "canteen_rules",
                target=row.name,
                unit_id=int(row.unit_id),
                before=old,
                after=new,
            )


def set_meal_period(ctx: Context, actor: Actor, canteen_id: int, spec: PeriodSpec) -> int:
    """Create or replace one meal period and its prices; returns the period id."""
    spec.check()
    with ctx.db.begin() as conn:
        canteen = conn.execute(
            select(Canteen.unit_id, Canteen.name).where(Canteen.id == canteen_id)
        ).first()
        if canteen is None:
            raise NotFound(what="食堂")
        actor.require_unit(canteen.unit_id)
        others = conn.execute(
            select(MealPeriod.name, MealPeriod.starts, MealPeriod.ends).where(
                MealPeriod.canteen_id == canteen_id, MealPeriod.code != spec.code
            )
        ).all()
        for name, s, e in others:
            if spec.starts < e and s < spec.ends:
                raise InvalidInput(f"与{name}时段重叠 ({s:%H:%M}–{e:%H:%M})")
        pid = conn.execute(
            select(MealPeriod.id).where(
                MealPeriod.canteen_id == canteen_id, MealPeriod.code == spec.code
            )
        ).scalar()
        values = {
            "name": spec.name,
            "starts": spec.starts,
            "ends": spec.ends,
            "per_person_limit": spec.per_person_limit,
        }
        before = _period_state(conn, pid)
        if pid is None:
            pid = conn.execute(
                insert(MealPeriod)
                .values(canteen_id=canteen_id, code=spec.code, **values)
                .returning(MealPeriod.id)
            ).scalar_one()
        else:
            conn.execute(update(MealPeriod).where(MealPeriod.id == pid).values(**values))
            conn.execute(delete(MealPrice).where(MealPrice.meal_period_id == pid))
        if spec.prices:
            conn.execute(
                insert(MealPrice),
                [
                    {"meal_period_id": pid, "diner_class": k, "price_fen": v}
                    for k, v in spec.prices.items()
                ],
            )
        after = {
            **{k: str(v) if isinstance(v, time) else v for k, v in values.items()},
            "prices": dict(sorted(spec.prices.items())),
        }
        if before != after:
            old, new = audit.changed_fields(before or {}, after)
            audit.record(
                conn,
                ctx,
                actor,
                "rules",
                "meal_period",
                target=f"{canteen.name} {spec.code}",
                unit_id=int(canteen.unit_id),
                before=old if before else None,
                after=new,
            )
        return int(pid)


def _period_state(conn: Connection, pid: int | None) -> dict[str, Any] | None:
    """A meal period as the audit trail shows it (times as text, prices in fen)."""
    if pid is None:
        return None
    p = conn.execute(
        select(
            MealPeriod.name, MealPeriod.starts, MealPeriod.ends, MealPeriod.per_person_limit
        ).where(MealPeriod.id == pid)
    ).one()
    prices = conn.execute(
        select(MealPrice.diner_class, MealPrice.price_fen).where(MealPrice.meal_period_id == pid)
    ).all()
    return {
        "name": p.name,
        "starts": str(p.starts),
        "ends": str(p.ends),
        "per_person_limit": int(p.per_person_limit),
        "prices": {k: int(v) for k, v in sorted(prices)},
    }


def meal_table(ctx: Context, canteen_id: int) -> list[dict[str, Any]]:
    """The canteen's periods with prices per class (for pages and the public directory)."""
    with ctx.db.read() as conn:
        periods = conn.execute(
            select(
                MealPeriod.id,
                MealPeriod.code,
                MealPeriod.name,
                MealPeriod.starts,
                MealPeriod.ends,
                MealPeriod.per_person_limit,
            )
            .where(MealPeriod.canteen_id == canteen_id)
            .order_by(MealPeriod.starts)
        ).all()
        prices = conn.execute(
            select(MealPrice.meal_period_id, MealPrice.diner_class, MealPrice.price_fen).where(
                MealPrice.meal_period_id.in_([p.id for p in periods])
            )
        ).all()
    by_period: dict[int, dict[str, int]] = {}
    for pid, klass, fen in prices:
        by_period.setdefault(pid, {})[klass] = int(fen)
    return [
        {
            "id": p.id,
            "code": p.code,
            "name": p.name,
            "starts": p.starts.strftime("%H:%M"),
            "ends": p.ends.strftime("%H:%M"),
            "per_person_limit": p.per_person_limit,
            "prices": by_period.get(p.id, {}),
        }
        for p in periods
    ]


def describe(ctx: Context, actor: Actor, canteen_id: int) -> dict[str, Any]:
    """The canteen's rules and meal-price table, for its unit's admin or manager."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                Canteen.unit_id, Canteen.serves_visitors, Canteen.serves_guests, Canteen.purse_order
            ).where(Canteen.id == canteen_id)
        ).first()
    if row is None:
        raise NotFound(what="食堂")
    actor.require_canteen(canteen_id, int(row.unit_id))
    return {
        "serves_visitors": row.serves_visitors,
        "serves_guests": row.serves_guests,
        "purse_order": row.purse_order,
        "meal_periods": meal_table(ctx, canteen_id),
    }
