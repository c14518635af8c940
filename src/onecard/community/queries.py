"""What the civil affairs bureau reads about community canteens: residents, the rules, a
claim with its lines, and the supervision of meals, subsidies and anomalies (R-C4).
Reads only, one read transaction each.

Contract:
- ``residents(ctx)``: every resident with categories and wallet balance.
- ``claims(ctx)`` lists the claims; ``claim(ctx, claim_id)`` is one claim with every line:
  who (name, masked ID number), when (Beijing time), what, the winning category, subsidy,
  delivery subsidy, status and reason; ``claim_table`` the same as a ``core.tables``
  table for the Excel export.
- ``supervision(ctx, first, last)``: per canteen per day, meals, the prices, the wallet
  parts, subsidies and delivery subsidies; and the anomalies for review (``anomalies``):
  - ``double``: one resident subsidised more than once in one meal (same day and slot,
    any canteen) — every such meal is listed;
  - ``under_age``: a meal whose winning category has an age limit (aged 60+, under 14,
    or an elder-only discount) that the resident's birth date does not meet on the
    meal's day under the rules the meal was priced by;
  - ``far_above``: a meal priced more than ``FAR_ABOVE`` times the median price of its
    canteen's meals in the period.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from onecard.community.ids import age_on
from onecard.community.models import (
    CommunityCanteen,
    CommunityClaim,
    CommunityClaimLine,
    CommunityDish,
    CommunityMeal,
    CommunityRules,
    Resident,
    ResidentCategory,
)
from onecard.community.rules import DEFAULT, Rules
from onecard.community.service import current_rules
from onecard.core.clock import local_text
from onecard.core.context import Context
from onecard.core.errors import NotFound
from onecard.core.money import yuan
from onecard.core.tables import Table
from onecard.core.words import word
from onecard.ledger.models import Account

FAR_ABOVE = 3  # a meal above 3 × its canteen's median price is listed


def masked(id_number: str) -> str:
    return id_number[:6] + "********" + id_number[-4:]


def rules(ctx: Context) -> dict[str, Any]:
    with ctx.db.read() as conn:
        version, current = current_rules(conn)
        history = [
            dict(r._mapping)
            for r in conn.execute(
                select(
                    CommunityRules.version,
                    CommunityRules.note,
                    CommunityRules.set_by,
                    CommunityRules.set_at,
                ).order_by(CommunityRules.version.desc())
            )
        ]
    return {"version": version, "rules": current, "history": history}


def residents(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        cats: dict[int, list[str]] = defaultdict(list)
        for rid, c in conn.execute(
            select(ResidentCategory.resident_id, ResidentCategory.category).order_by(
                ResidentCategory.id
            )
        ):
            cats[rid].append(c)
        rows = conn.execute(
            select(
                Resident.id,
                Resident.name,
                Resident.id_number,
                Resident.birth_date,
                Account.balance,
            )
            .join(
                Account,
                (Account.owner_kind == "resident")
                & (Account.owner_id == Resident.id)
                & (Account.kind == "resident_wallet"),
            )
            .order_by(Resident.id)
        ).all()
    return [
        {
            "id": r.id,
            "name": r.name,
            "id_number": masked(r.id_number),
            "birth_date": r.birth_date,
            "categories": cats[r.id],
            "wallet_fen": int(r.balance),
        }
        for r in rows
    ]


def canteens(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                select(
                    CommunityCanteen.id,
                    CommunityCanteen.code,
                    CommunityCanteen.name,
                    CommunityCanteen.operator,
                    CommunityCanteen.address,
                    CommunityCanteen.rating,
                ).order_by(CommunityCanteen.code)
            )
        ]


def claims(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        lines = (
            select(
                CommunityClaimLine.claim_id,
                func.count().label("lines"),
                func.sum(CommunityClaimLine.amount_fen).label("amount_fen"),
            )
            .group_by(CommunityClaimLine.claim_id)
            .subquery()
        )
        return [
            {**r._mapping, "lines": int(r.lines), "amount_fen": int(r.amount_fen)}
            for r in conn.execute(
                select(
                    CommunityClaim.id,
                    CommunityClaim.month,
                    CommunityClaim.status,
                    CommunityClaim.approved_fen,
                    CommunityClaim.rejected_fen,
                    CommunityCanteen.name.label("canteen"),
                    func.coalesce(lines.c.lines, 0).label("lines"),
                    func.coalesce(lines.c.amount_fen, 0).label("amount_fen"),
                )
                .join(CommunityCanteen, CommunityCanteen.id == CommunityClaim.canteen_id)
                .outerjoin(lines, lines.c.claim_id == CommunityClaim.id)
                .order_by(CommunityClaim.month.desc(), CommunityCanteen.code)
            )
        ]


@dataclass(frozen=True)
class ClaimView:
    id: int
    canteen: str
    operator: str
    month: str
    status: str
    approved_fen: int
    rejected_fen: int
    lines: list[dict[str, Any]]

    @property
    def total_fen(self) -> int:
        return sum(line["amount_fen"] for line in self.lines)


def claim(ctx: Context, claim_id: int) -> ClaimView:
    with ctx.db.read() as conn:
        head = conn.execute(
            select(
                CommunityClaim.id,
                CommunityClaim.month,
                CommunityClaim.status,
                CommunityClaim.approved_fen,
                CommunityClaim.rejected_fen,
                CommunityCanteen.name,
                CommunityCanteen.operator,
            )
            .join(CommunityCanteen, CommunityCanteen.id == CommunityClaim.canteen_id)
            .where(CommunityClaim.id == claim_id)
        ).first()
        if head is None:
            raise NotFound(what="补贴申报")
        rows = conn.execute(
            select(
                CommunityClaimLine.id,
                CommunityClaimLine.amount_fen,
                CommunityClaimLine.status,
                CommunityClaimLine.reason,
                CommunityMeal.paid_at,
                CommunityMeal.meal_day,
                CommunityMeal.slot,
                CommunityMeal.price_fen,
                CommunityMeal.subsidy_fen,
                CommunityMeal.delivery_fen,
                CommunityMeal.category,
                CommunityMeal.love,
                CommunityMeal.delivered,
                CommunityDish.name.label("dish"),
                Resident.name.label("resident"),
                Resident.id_number,
            )
            .join(CommunityMeal, CommunityMeal.id == CommunityClaimLine.meal_id)
            .join(CommunityDish, CommunityDish.id == CommunityMeal.dish_id)
            .join(Resident, Resident.id == CommunityMeal.resident_id)
            .where(CommunityClaimLine.claim_id == claim_id)
            .order_by(CommunityMeal.paid_at, CommunityClaimLine.id)
        ).all()
    lines = []
    for r in rows:
        line = dict(r._mapping)
        line["id_number"] = masked(r.id_number)
        line["when"] = local_text(r.paid_at)
        lines.append(line)
    return ClaimView(
        id=head.id,
        canteen=head.name,
        operator=head.operator,
        month=head.month,
        status=head.status,
        approved_fen=int(head.approved_fen),
        rejected_fen=int(head.rejected_fen),
        lines=lines,
    )


def claim_table(view: ClaimView) -> Table:
    """The claim as a report table for its Excel (stored codes as their words)."""
    head = [
        "时间",
        "居民",
        "身份证号",
        "餐品",
        "类别",
        "餐价（元）",
        "餐费补贴（元）",
        "送餐补贴（元）",
        "申报金额（元）",
        "状态",
        "原因",
    ]
    rows: list[list[Any]] = []
    for line in view.lines:
        category = "+".join(word(c, "resident_category") for c in line["category"].split("+") if c)
        rows.append(
            [
                line["when"],
                line["resident"],
                line["id_number"],
                line["dish"],
                category,
                int(line["price_fen"]),
                int(line["subsidy_fen"]),
                int(line["delivery_fen"]),
                int(line["amount_fen"]),
                word(line["status"], "claim_line"),
                line["reason"],
            ]
        )
    return Table(
        key=f"community_claim_{view.id}",
        title=f"补贴申报 {view.month}",
        headers=head,
        rows=rows,
        money_cols={5, 6, 7, 8},
    )


# --- supervision -------------------------------------------------------------------------
def supervision(ctx: Context, first: date, last: date) -> dict[str, Any]:
    money = ("meals", "price_fen", "wallet_fen", "subsidy_fen", "delivery_fen")
    with ctx.db.read() as conn:
        days = [
            # PostgreSQL's SUM of a bigint is numeric: back to int fen.
            {**r._mapping, **{k: int(r._mapping[k]) for k in money}}
            for r in conn.execute(
                select(
                    CommunityCanteen.name.label("canteen"),
                    CommunityMeal.meal_day,
                    func.count().label("meals"),
                    func.sum(CommunityMeal.price_fen).label("price_fen"),
                    func.sum(CommunityMeal.wallet_fen).label("wallet_fen"),
                    func.sum(CommunityMeal.subsidy_fen).label("subsidy_fen"),
                    func.sum(CommunityMeal.delivery_fen).label("delivery_fen"),
                )
                .join(CommunityCanteen, CommunityCanteen.id == CommunityMeal.canteen_id)
                .where(CommunityMeal.meal_day.between(first, last))
                .group_by(CommunityCanteen.name, CommunityMeal.meal_day)
                .order_by(CommunityMeal.meal_day.desc(), CommunityCanteen.name)
            )
        ]
        found = anomalies(conn, first, last)
    totals = {k: sum(d[k] for d in days) for k in money}
    return {"days": days, "totals": totals, "anomalies": found}


def anomalies(conn: Connection, first: date, last: date) -> list[dict[str, Any]]:
    versions = {
        int(v): Rules.from_json(text)
        for v, text in conn.execute(select(CommunityRules.version, CommunityRules.rules))
    }
    rows = conn.execute(
        select(
            CommunityMeal.id,
            CommunityMeal.canteen_id,
            CommunityMeal.resident_id,
            CommunityMeal.meal_day,
            CommunityMeal.slot,
            CommunityMeal.paid_at,
            CommunityMeal.price_fen,
            CommunityMeal.subsidy_fen,
            CommunityMeal.category,
            CommunityMeal.rules_version,
            Resident.name.label("resident"),
            Resident.birth_date,
            CommunityCanteen.name.label("canteen"),
        )
        .join(Resident, Resident.id == CommunityMeal.resident_id)
        .join(CommunityCanteen, CommunityCanteen.id == CommunityMeal.canteen_id)
        .where(CommunityMeal.meal_day.between(first, last))
        .order_by(CommunityMeal.paid_at, CommunityMeal.id)
    ).all()
    out: list[dict[str, Any]] = []

    def add(kind: str, r: Any, detail: str) -> None:
        out.append(
            {
                "kind": kind,
                "meal_id": r.id,
                "canteen": r.canteen,
                "resident": r.resident,
                "when": local_text(r.paid_at),
                "price_fen": int(r.price_fen),
                "subsidy_fen": int(r.subsidy_fen),
                "detail": detail,
            }
        )

    by_meal: dict[tuple[int, date, str], list[Any]] = defaultdict(list)
    prices: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        prices[r.canteen_id].append(int(r.price_fen))
        if r.subsidy_fen > 0:
            by_meal[(r.resident_id, r.meal_day, r.slot)].append(r)
    for group in by_meal.values():
        if len(group) > 1:
            for r in group:
                add("double", r, f"{len(group)}")
    for r in rows:
        if r.subsidy_fen <= 0:
            continue
        rules = versions.get(int(r.rules_version), DEFAULT)
        age = age_on(r.birth_date, r.meal_day)
        for c in str(r.category).split("+"):
            too_young = (c == "aged_60" or c in rules.elder_only) and age < rules.elder_age
            too_old = c == "child_14" and age >= rules.child_age
            if too_young or too_old:
                add("under_age", r, f"{c}:{age}")
                break
    medians = {c: statistics.median(p) for c, p in prices.items()}
    for r in rows:
        if r.price_fen > FAR_ABOVE * medians[r.canteen_id]:
            add("far_above", r, yuan(int(medians[r.canteen_id])))
    return out


def today_range(now: datetime) -> tuple[date, date]:
    day = now.date()
    return day.replace(day=1), day


def canteen_id_by_code(ctx: Context, code: str) -> int:
    with ctx.db.read() as conn:
        found = conn.execute(
            select(CommunityCanteen.id).where(CommunityCanteen.code == code)
        ).scalar()
    if found is None:
        raise NotFound(what=f"社区食堂 {code}")
    return int(found)
