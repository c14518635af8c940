"""Waste supervision's writes (R-R4, R-S5). What is read back is in ``waste.queries``.

Contract — each public function is one transaction that checks the actor again and
writes one audit record; bad input is refused before anything is written:
- ``record_inspection`` — an anti-waste supervisor of the canteen's unit (or the bureau)
  records a spot check: day, meal, leftover weight, findings, an optional photo.
- ``record_weight`` — whoever runs the canteen (its manager, its unit's admin, the
  bureau) records the day's leftovers of a meal; again for the same day and meal
  replaces the figure (the audit record keeps the old one).
- ``check_in`` — a diner's clean plate (光盘打卡) with a photo, for today (Beijing) and a
  meal, at most once per meal per day (``StateConflict``; the unique key is the backstop).
- ``issue_notice`` — the bureau admin's waste notice (浪费通报) to a canteen;
  ``acknowledge_notice`` — the canteen's unit admin acknowledges it, once.
- ``record_quality_score`` — the unit records a canteen's quarter score with the waste
  deduction of ``waste.score`` taken off (through ``funding.settlement.record_score``,
  which writes the score's own audit record and keeps its rules).

Weights are given in kilograms (a number or decimal text, at most 3 decimals: grams) and
kept as integer grams; negative, not a number, or more than ``MAX_GRAMS`` is
``InvalidInput`` (422). Photos: JPEG or PNG, told by their first bytes, at most
``MAX_PHOTO`` bytes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, StateConflict
from onecard.funding import settlement
from onecard.org.actors import Actor
from onecard.org.models import Canteen
from onecard.pay.models import MealPeriod
from onecard.waste import score
from onecard.waste.models import (
    MAX_GRAMS,
    MAX_PHOTO,
    CleanPlate,
    WasteInspection,
    WasteNotice,
    WasteWeight,
)

MAX_TEXT = 1000
MEALS = ("breakfast", "lunch", "dinner")


def grams_of(kg: object) -> int:
    """Kilograms as a person types them → integer grams; refuses what is not a weight."""
    if isinstance(kg, bool) or not isinstance(kg, int | float | str | Decimal):
        raise InvalidInput("剩余重量须为千克数，如 12.5")
    try:
        d = Decimal(str(kg).strip())
    except InvalidOperation:
        raise InvalidInput("剩余重量须为千克数，如 12.5") from None
    if not d.is_finite() or d < 0:
        raise InvalidInput("剩余重量不能为负数")
    grams = d * 1000
    if grams != grams.to_integral_value():
        raise InvalidInput("剩余重量最多精确到克（小数点后 3 位）")
    if grams > MAX_GRAMS:
        raise InvalidInput(f"剩余重量不能超过 {MAX_GRAMS // 1000} 千克：请核对")
    return int(grams)


def photo_type(photo: bytes) -> str:
    """``image/jpeg`` or ``image/png`` from the file's first bytes; refuses anything else."""
    if len(photo) > MAX_PHOTO:
        raise InvalidInput(f"照片不能超过 {MAX_PHOTO // 1024 // 1024} MB")
    if photo.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if photo.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    raise InvalidInput("照片只能是 JPEG 或 PNG 图片")


def _text(value: str, what: str, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"{what}不能为空")
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{what}最多 {MAX_TEXT} 个字")
    return value


def _canteen(conn: Connection, canteen_id: int) -> Any:
    c = conn.execute(
        select(Canteen.id, Canteen.name, Canteen.unit_id, Canteen.retired_at).where(
            Canteen.id == canteen_id
        )
    ).first()
    if c is None:
        raise NotFound(what="食堂")
    return c


def _meal(conn: Connection, canteen_id: int | None, meal: str) -> str:
    """A meal code the canteen serves (any canteen's, for a diner's check-in)."""
    q = select(MealPeriod.code).where(MealPeriod.code == meal)
    if canteen_id is not None:
        q = q.where(MealPeriod.canteen_id == canteen_id)
    if meal not in MEALS and conn.execute(q.limit(1)).first() is None:
        raise InvalidInput("餐次应为 breakfast（早餐）、lunch（午餐）或 dinner（晚餐）")
    return meal


def record_inspection(
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    day: date,
    meal: str,
    leftover_kg: object,
    findings: str = "",
    photo: bytes | None = None,
) -> int:
    grams = grams_of(leftover_kg)
    findings = _text(findings, "检查发现")
    kind = photo_type(photo) if photo else None
    if actor.person_id is None:
        raise Forbidden()
    if day > ctx.clock.today():
        raise InvalidInput("检查日期不能晚于今天")
    with ctx.db.begin() as conn:
        c = _canteen(conn, canteen_id)
        actor.require_supervisor(int(c.unit_id))
        _meal(conn, canteen_id, meal)
        iid = int(
            conn.execute(
                insert(WasteInspection)
                .values(
                    canteen_id=canteen_id,
                    inspected_on=day,
                    meal=meal,
                    leftover_grams=grams,
                    findings=findings,
                    photo=photo or None,
                    photo_type=kind,
                    inspector_id=actor.person_id,
                    created_at=ctx.clock.now(),
                )
                .returning(WasteInspection.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            ctx,
            actor,
            "waste_inspection",
            f"{c.name} {day} {meal}"[:100],
            {"inspection": iid, "grams": grams},
            unit_id=int(c.unit_id),
            after={"grams": grams, "findings": findings, "photo": kind},
        )
        return iid


def record_weight(
    ctx: Context, actor: Actor, canteen_id: int, day: date, meal: str, leftover_kg: object
) -> int:
    grams = grams_of(leftover_kg)
    if day > ctx.clock.today():
        raise InvalidInput("日期不能晚于今天")
    with ctx.db.begin() as conn:
        c = _canteen(conn, canteen_id)
        actor.require_canteen(canteen_id, int(c.unit_id))
        _meal(conn, canteen_id, meal)
        key = (
            WasteWeight.canteen_id == canteen_id,
            WasteWeight.day == day,
            WasteWeight.meal == meal,
        )
        was = conn.execute(select(WasteWeight.leftover_grams).where(*key)).scalar()
        conn.execute(delete(WasteWeight).where(*key))
        wid = int(
            conn.execute(
                insert(WasteWeight)
                .values(
                    canteen_id=canteen_id,
                    day=day,
                    meal=meal,
                    leftover_grams=grams,
                    recorded_by=actor.label[:120],
                    recorded_at=ctx.clock.now(),
                )
                .returning(WasteWeight.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            ctx,
            actor,
            "waste_weight",
            f"{c.name} {day} {meal}"[:100],
            {"grams": grams},
            unit_id=int(c.unit_id),
            before=None if was is None else {"grams": int(was)},
            after={"grams": grams},
        )
        return wid


def check_in(ctx: Context, actor: Actor, meal: str, photo: bytes) -> int:
    """Today's clean plate of ``meal`` for the signed-in diner."""
    if actor.person_id is None:
        raise Forbidden()
    if not photo:
        raise InvalidInput("光盘打卡须附照片")
    kind = photo_type(photo)
    today = ctx.clock.today()
    try:
        with ctx.db.begin() as conn:
            _meal(conn, None, meal)
            done = conn.execute(
                select(CleanPlate.id).where(
                    CleanPlate.person_id == actor.person_id,
                    CleanPlate.day == today,
                    CleanPlate.meal == meal,
                )
            ).first()
            if done is not None:
                raise StateConflict("这一餐今天已经打过卡了")
            cid = int(
                conn.execute(
                    insert(CleanPlate)
                    .values(
                        person_id=actor.person_id,
                        day=today,
                        meal=meal,
                        photo=photo,
                        photo_type=kind,
                        created_at=ctx.clock.now(),
                    )
                    .returning(CleanPlate.id)
                ).scalar_one()
            )
            audit.record(
                conn,
                ctx,
                actor,
                "clean_plate",
                f"{today} {meal}",
                {"check_in": cid},
                person_id=actor.person_id,
                after={"day": today.isoformat(), "meal": meal},
            )
            return cid
    except IntegrityError:  # two submits racing: the unique key decided
        raise StateConflict("这一餐今天已经打过卡了") from None


def issue_notice(ctx: Context, actor: Actor, canteen_id: int, text: str) -> int:
    actor.require("bureau_admin")
    text = _text(text, "通报内容", required=True)
    with ctx.db.begin() as conn:
        c = _canteen(conn, canteen_id)
        if c.retired_at is not None:
            raise StateConflict("食堂已撤销")
        nid = int(
            conn.execute(
                insert(WasteNotice)
                .values(
                    canteen_id=canteen_id,
                    text=text,
                    issued_by=actor.label[:120],
                    issued_at=ctx.clock.now(),
                )
                .returning(WasteNotice.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            ctx,
            actor,
            "waste_notice",
            str(c.name)[:100],
            {"notice": nid},
            unit_id=int(c.unit_id),
            after={"text": text},
        )
        return nid


def acknowledge_notice(ctx: Context, actor: Actor, notice_id: int) -> None:
    """The canteen's unit admin acknowledges a waste notice, once."""
    with ctx.db.begin() as conn:
        row = conn.execute(
            select(WasteNotice.canteen_id, WasteNotice.acknowledged_at)
            .where(WasteNotice.id == notice_id)
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(what="通报")
        c = _canteen(conn, int(row.canteen_id))
        if not any(r == "unit_admin" and u == c.unit_id for r, u, _ in actor.grants):
            raise Forbidden()
        if row.acknowledged_at is not None:
            raise StateConflict("该通报已确认")
        conn.execute(
            update(WasteNotice)
            .where(WasteNotice.id == notice_id)
            .values(acknowledged_by=actor.label[:120], acknowledged_at=ctx.clock.now())
        )
        audit.record(
            conn,
            ctx,
            actor,
            "waste_notice_ack",
            f"通报 {notice_id} {c.name}"[:100],
            {"notice": notice_id},
            unit_id=int(c.unit_id),
            before={"acknowledged": False},
            after={"acknowledged": True},
        )


def record_quality_score(
    ctx: Context, actor: Actor, canteen_id: int, quarter: str, assessed: int
) -> score.Scored:
    """The unit's assessed score less the quarter's waste deduction, recorded as the
    canteen's quality score (the score bands then decide the payout)."""
    if type(assessed) is not int or not 0 <= assessed <= 100:
        raise InvalidInput("考核分数须为 0–100 的整数")
    scored = score.quarter_score(ctx, canteen_id, quarter, assessed)
    settlement.record_score(ctx, actor, canteen_id, quarter, scored.final)
    return scored
