"""Monthly subsidy claims and yearly ratings of community canteens (R-C4, R-C5).

Contract:
- ``build_claim(ctx, actor, canteen_id, month)`` opens the canteen's claim for the month
  ('2026-03', Beijing dates) once and adds a line for every meal of that month with a
  subsidy or a delivery subsidy that is in no claim yet (so running it again after late
  meals adds only those). Returns the claim id. An approved claim takes no more lines
  (``ClaimDecided``).
- ``decide_line(ctx, actor, line_id, approve, reason)``: the civil affairs bureau
  approves or rejects one line of an open claim; a rejection needs its reason.
- ``approve_claim(ctx, actor, claim_id)``: lines still pending are approved with it; one
  balanced entry (key ``cc-claim:<id>``) moves the claim's total out of the canteen's
  ``cc_subsidy``: the approved part to ``cc_due`` (owed to the canteen), the rejected
  part back to the ``civil_subsidy`` fund. Paying ``cc_due`` to the canteen's bank
  account is not done here (see docs/community.md, "Not yet").
- ``rate_canteen(ctx, actor, canteen_id, year, satisfaction_pct)`` computes the year's
  score (``score_parts``, below) and grade, sets the canteen's rating, and books the
  grade's operating subsidy ``civil_subsidy → cc_due`` (key ``cc-rating:<id>:<year>``);
  once per canteen and year.
- Each is one transaction, the bureau only, audited (kind ``community``).

The score (0–100), stated once:

- diner frequency, 40 points: meals served in the year ÷ days in the year, 100 meals a
  day or more = 40, proportionally below (whole points, rounded down);
- satisfaction, 40 points: the share of residents satisfied in the year's survey, in
  percent (0–100), × 40 / 100, rounded down;
- help to special groups, 20 points: the share of meals that were subsidised (any
  category) or delivered; half of all meals or more = 20, proportionally below.

Grade: 90 and over AAA, 75 and over AA, 60 and over A, below that none (no subsidy).
"""

from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy import func, insert, or_, select, update

from onecard.audit.service import record
from onecard.community.models import (
    CommunityCanteen,
    CommunityClaim,
    CommunityClaimLine,
    CommunityMeal,
    CommunityRating,
)
from onecard.community.service import _canteen, civil_fund, current_rules
from onecard.core.context import Context
from onecard.core.errors import ClaimDecided, InvalidInput, NotFound, StateConflict
from onecard.ledger.service import Leg, account_id, post
from onecard.org.actors import Actor

FULL_FREQUENCY = 100  # meals a day for the whole 40 points
FULL_SPECIAL_PCT = 50  # percent of meals subsidised or delivered for the whole 20 points
GRADE_FLOORS = ((90, "AAA"), (75, "AA"), (60, "A"))


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of '2026-03'."""
    try:
        y, m = (int(p) for p in month.split("-"))
        first = date(y, m, 1)
    except ValueError as exc:
        raise InvalidInput("月份格式须为 YYYY-MM") from exc
    if len(month) != 7:
        raise InvalidInput("月份格式须为 YYYY-MM")
    return first, date(y, m, calendar.monthrange(y, m)[1])


def build_claim(ctx: Context, actor: Actor, canteen_id: int, month: str) -> int:
    actor.require_bureau()
    first, last = month_bounds(month)
    with ctx.db.begin() as conn:
        _canteen(conn, canteen_id)
        claim = conn.execute(
            select(CommunityClaim.id, CommunityClaim.status).where(
                CommunityClaim.canteen_id == canteen_id, CommunityClaim.month == month
            )
        ).first()
        if claim is not None and claim.status != "open":
            raise ClaimDecided()
        if claim is None:
            claim_id = int(
                conn.execute(
                    insert(CommunityClaim)
                    .values(
                        canteen_id=canteen_id,
                        month=month,
                        status="open",
                        created_at=ctx.clock.now(),
                        approved_fen=0,
                        rejected_fen=0,
                    )
                    .returning(CommunityClaim.id)
                ).scalar_one()
            )
        else:
            claim_id = int(claim.id)
        claimed = select(CommunityClaimLine.meal_id)
        meals = conn.execute(
            select(CommunityMeal.id, CommunityMeal.subsidy_fen, CommunityMeal.delivery_fen)
            .where(
                CommunityMeal.canteen_id == canteen_id,
                CommunityMeal.meal_day.between(first, last),
                or_(CommunityMeal.subsidy_fen > 0, CommunityMeal.delivery_fen > 0),
                CommunityMeal.id.not_in(claimed),
            )
            .order_by(CommunityMeal.id)
        ).all()
        if meals:
            conn.execute(
                insert(CommunityClaimLine),
                [
                    {
                        "claim_id": claim_id,
                        "meal_id": m.id,
                        "amount_fen": int(m.subsidy_fen) + int(m.delivery_fen),
                        "status": "pending",
                        "reason": "",
                    }
                    for m in meals
                ],
            )
        record(
            conn,
            ctx,
            actor,
            "community",
            "community_claim_built",
            target=f"community_claim:{claim_id}",
            data={"canteen_id": canteen_id, "month": month, "lines_added": len(meals)},
        )
        return claim_id


def decide_line(ctx: Context, actor: Actor, line_id: int, approve: bool, reason: str = "") -> None:
    actor.require_bureau()
    reason = reason.strip()
    if not approve and not reason:
        raise InvalidInput("驳回须写明原因")
    with ctx.db.begin() as conn:
        line = conn.execute(
            select(CommunityClaimLine.id, CommunityClaimLine.status, CommunityClaim.status)
            .join(CommunityClaim, CommunityClaim.id == CommunityClaimLine.claim_id)
            .where(CommunityClaimLine.id == line_id)
        ).first()
        if line is None:
            raise NotFound(what="申报明细")
        if line[2] != "open":
            raise ClaimDecided()
        new = "approved" if approve else "rejected"
        conn.execute(
            update(CommunityClaimLine)
            .where(CommunityClaimLine.id == line_id)
            .values(status=new, reason=reason[:200])
        )
        record(
            conn,
            ctx,
            actor,
            "community",
            "community_claim_line",
            target=f"community_claim_line:{line_id}",
            before={"status": line[1]},
            after={"status": new, "reason": reason},
        )


def approve_claim(ctx: Context, actor: Actor, claim_id: int) -> tuple[int, int]:
    """Approve the claim; returns (approved, rejected) in fen."""
    actor.require_bureau()
    with ctx.db.begin() as conn:
        claim = conn.execute(
            select(CommunityClaim.__table__).where(CommunityClaim.id == claim_id).with_for_update()
        ).first()
        if claim is None:
            raise NotFound(what="补贴申报")
        if claim.status != "open":
            raise ClaimDecided()
        conn.execute(
            update(CommunityClaimLine)
            .where(CommunityClaimLine.claim_id == claim_id, CommunityClaimLine.status == "pending")
            .values(status="approved")
        )
        sums = dict(
            conn.execute(
                select(CommunityClaimLine.status, func.sum(CommunityClaimLine.amount_fen))
                .where(CommunityClaimLine.claim_id == claim_id)
                .group_by(CommunityClaimLine.status)
            ).all()
        )
        approved, rejected = int(sums.get("approved") or 0), int(sums.get("rejected") or 0)
        canteen = _canteen(conn, claim.canteen_id)
        entry = None
        if approved + rejected:
            legs = [
                Leg(account_id(conn, "community", canteen.id, "cc_subsidy"), -(approved + rejected))
            ]
            if approved:
                legs.append(Leg(account_id(conn, "community", canteen.id, "cc_due"), approved))
            if rejected:
                legs.append(Leg(civil_fund(conn, canteen.region_id), rejected))
            entry, _ = post(
                conn,
                region_id=canteen.region_id,
                kind="community_claim",
                key=f"cc-claim:{claim_id}",
                legs=legs,
                actor=actor.label,
                booked_at=ctx.clock.now(),
                reference=f"community_claim:{claim_id}",
                memo=f"社区食堂补贴申报 {claim.month}",
            )
        conn.execute(
            update(CommunityClaim)
            .where(CommunityClaim.id == claim_id)
            .values(
                status="approved",
                decided_at=ctx.clock.now(),
                decided_by=actor.label[:100],
                approved_fen=approved,
                rejected_fen=rejected,
                entry_id=entry,
            )
        )
        record(
            conn,
            ctx,
            actor,
            "community",
            "community_claim_approved",
            target=f"community_claim:{claim_id}",
            after={"approved_fen": approved, "rejected_fen": rejected, "entry": entry},
        )
        return approved, rejected


def score_parts(meals: int, days: int, satisfaction_pct: int, special: int) -> tuple[int, int, int]:
    """(frequency, satisfaction, special groups) points: see the module's docstring."""
    frequency = min(40, meals * 40 // (FULL_FREQUENCY * days)) if days else 0
    satisfaction = satisfaction_pct * 40 // 100
    special_pts = min(20, special * 100 * 20 // (FULL_SPECIAL_PCT * meals)) if meals else 0
    return frequency, satisfaction, special_pts


def grade_of(score: int) -> str | None:
    for floor, grade in GRADE_FLOORS:
        if score >= floor:
            return grade
    return None


def rate_canteen(
    ctx: Context, actor: Actor, canteen_id: int, year: int, satisfaction_pct: int
) -> tuple[int, str | None, int]:
    """Rate the canteen for ``year``; returns (score, grade, subsidy fen)."""
    actor.require_bureau()
    if type(satisfaction_pct) is not int or not 0 <= satisfaction_pct <= 100:
        raise InvalidInput("满意度须为 0–100 的整数（百分比）")
    with ctx.db.begin() as conn:
        canteen = _canteen(conn, canteen_id)
        done = conn.execute(
            select(CommunityRating.id).where(
                CommunityRating.canteen_id == canteen_id, CommunityRating.year == year
            )
        ).first()
        if done is not None:
            raise StateConflict(f"{year} 年度已评定")
        first, last = date(year, 1, 1), date(year, 12, 31)
        counts = conn.execute(
            select(
                func.count(),
                func.count().filter(
                    or_(CommunityMeal.subsidy_fen > 0, CommunityMeal.delivery_fen > 0)
                ),
            ).where(
                CommunityMeal.canteen_id == canteen_id,
                CommunityMeal.meal_day.between(first, last),
            )
        ).one()
        meals, special = int(counts[0]), int(counts[1])
        days = (last - first).days + 1
        f, s, sp = score_parts(meals, days, satisfaction_pct, special)
        score = f + s + sp
        grade = grade_of(score)
        _, rules = current_rules(conn)
        amount = rules.rating_fen[grade] if grade else 0
        entry = None
        if amount:
            entry, _ = post(
                conn,
                region_id=canteen.region_id,
                kind="community_rating",
                key=f"cc-rating:{canteen_id}:{year}",
                legs=[
                    Leg(civil_fund(conn, canteen.region_id), -amount),
                    Leg(account_id(conn, "community", canteen_id, "cc_due"), amount),
                ],
                actor=actor.label,
                booked_at=ctx.clock.now(),
                reference=f"community_canteen:{canteen_id}",
                memo=f"社区食堂 {year} 年度 {grade} 级运营补贴",
            )
        conn.execute(
            insert(CommunityRating).values(
                canteen_id=canteen_id,
                year=year,
                frequency_points=f,
                satisfaction_points=s,
                special_points=sp,
                score=score,
                grade=grade,
                amount_fen=amount,
                entry_id=entry,
                rated_by=actor.label[:100],
                rated_at=ctx.clock.now(),
            )
        )
        later = conn.execute(
            select(CommunityRating.id).where(
                CommunityRating.canteen_id == canteen_id, CommunityRating.year > year
            )
        ).first()
        if later is None:  # the newest year's grade is the canteen's rating
            conn.execute(
                update(CommunityCanteen)
                .where(CommunityCanteen.id == canteen_id)
                .values(rating=grade)
            )
        record(
            conn,
            ctx,
            actor,
            "community",
            "community_rating",
            target=f"community_canteen:{canteen_id}",
            before={"rating": canteen.rating},
            after={"year": year, "score": score, "grade": grade, "amount_fen": amount},
            data={"frequency": f, "satisfaction": s, "special": sp, "meals": meals},
        )
        return score, grade, amount
