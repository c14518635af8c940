"""Waste supervision API (/api/v1/waste, /api/v1/me/clean-plates; R-R4, R-S5).

Thin: ``waste.service`` checks the actor again and holds every rule; reads come from
``waste.queries``. A negative, non-numeric or absurd weight, a photo that is not a JPEG
or PNG (or over 2 MB), an unknown meal: 422 ``invalid_input``, nothing written. A second
clean plate for the same meal and day, a notice acknowledged again: 409.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from onecard.core.errors import Forbidden, InvalidInput
from onecard.funding.schemas import ScoreIn as FundingScoreIn
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.waste import queries, service
from onecard.waste.schemas import (
    CleanPlateIn,
    CleanPlatesOut,
    InspectionIn,
    InspectionOut,
    NoticeIn,
    NoticeOut,
    PerDinerOut,
    ScoreIn,
    ScoreOut,
    WeightIn,
    WeightOut,
)
from onecard.web.deps import ActorDep, CtxDep, IdPath
from onecard.web.scopes import waste_scope

router = APIRouter(prefix="/api/v1", tags=["waste"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_DAYS = 366


def _photo(b64: str | None) -> bytes | None:
    if not b64:
        return None
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("照片须为 base64 编码的 JPEG 或 PNG") from None


def _reader(actor: Actor) -> None:
    if not actor.can_read_everything():
        raise Forbidden()


def _period(ctx: Any, start: date | None, end: date | None) -> tuple[date, date]:
    end = end or ctx.clock.today()
    start = start or end - timedelta(days=29)
    if start > end or (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"起止日期须先后有序，且不超过 {MAX_DAYS} 天")
    return start, end


@router.post(
    "/waste/canteens/{canteen_id}/inspections",
    response_model=InspectionOut,
    status_code=201,
    responses=ERRORS,
)
def post_inspection(canteen_id: IdPath, body: InspectionIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """An anti-waste supervisor's inspection of a canteen of their unit (or the bureau's)."""
    iid = service.record_inspection(
        ctx,
        actor,
        canteen_id,
        body.inspected_on,
        body.meal,
        body.leftover_kg,
        body.findings,
        _photo(body.photo_base64),
    )
    return next(r for r in queries.inspections(ctx, canteen_id) if r["id"] == iid)


@router.get(
    "/waste/canteens/{canteen_id}/inspections",
    response_model=list[InspectionOut],
    responses=ERRORS,
)
def get_inspections(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """A canteen's latest 50 inspections (photos not included)."""
    waste_scope(ctx, actor, canteen_id)
    return queries.inspections(ctx, canteen_id)


@router.post(
    "/waste/canteens/{canteen_id}/weights",
    response_model=WeightOut,
    status_code=201,
    responses=ERRORS,
)
def post_weight(canteen_id: IdPath, body: WeightIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """The canteen's leftovers of one day's meal (again for the same day and meal replaces)."""
    wid = service.record_weight(ctx, actor, canteen_id, body.day, body.meal, body.leftover_kg)
    [row] = [
        r for r in queries.per_diner(ctx, body.day, body.day, canteen_id) if r.meal == body.meal
    ]
    return {**row.__dict__, "id": wid, "leftover_grams": row.grams}


@router.post("/me/clean-plates", response_model=CleanPlatesOut, status_code=201, responses=ERRORS)
def post_clean_plate(body: CleanPlateIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Today's clean plate (光盘打卡) for a meal, with a photo; once per meal per day."""
    photo = _photo(body.photo_base64) or b""
    service.check_in(ctx, actor, body.meal, photo)
    assert actor.person_id is not None
    return queries.clean_plates(ctx, actor.person_id, ctx.clock.today())


@router.get("/me/clean-plates", response_model=CleanPlatesOut, responses=ERRORS)
def get_clean_plates(actor: ActorDep, ctx: CtxDep) -> Any:
    """The caller's streak (consecutive days with a check-in), total and today's meals."""
    if actor.person_id is None:
        raise Forbidden()
    return queries.clean_plates(ctx, actor.person_id, ctx.clock.today())


@router.get("/waste/per-diner", response_model=PerDinerOut, responses=ERRORS)
def get_per_diner(
    actor: ActorDep, ctx: CtxDep, start: date | None = None, end: date | None = None
) -> Any:
    """Leftover grams ÷ diners per canteen and per day and meal (default: the last 30 days)."""
    _reader(actor)
    start, end = _period(ctx, start, end)
    rows = queries.per_diner(ctx, start, end)
    return {
        "start": start,
        "end": end,
        "canteens": [{**c.__dict__, "per_diner": c.per_diner} for c in queries.per_canteen(rows)],
        "days": [{**r.__dict__, "per_diner": r.per_diner} for r in rows],
    }


@router.get(
    "/waste/per-diner.xlsx",
    responses={200: {"content": {XLSX: {}}}, **ERRORS},
    response_class=Response,
)
def get_per_diner_xlsx(
    actor: ActorDep, ctx: CtxDep, start: date | None = None, end: date | None = None
) -> Response:
    """The same as an Excel workbook."""
    _reader(actor)
    start, end = _period(ctx, start, end)
    return Response(
        queries.per_diner_xlsx(ctx, start, end),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="waste.xlsx"'},
    )


@router.get("/waste/notices", response_model=list[NoticeOut], responses=ERRORS)
def get_notices(actor: ActorDep, ctx: CtxDep) -> Any:
    """Waste notices: every one for the city's readers, a unit admin's own unit's."""
    if actor.can_read_everything():
        return queries.notices(ctx)
    units = {u for r, u, _ in actor.grants if r == "unit_admin" and u is not None}
    if not units:
        raise Forbidden()
    return [n for u in sorted(units) for n in queries.notices(ctx, unit_id=u)]


@router.post("/waste/notices", response_model=NoticeOut, status_code=201, responses=ERRORS)
def post_notice(body: NoticeIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """The bureau's waste notice (浪费通报) to a canteen, shown on its public card."""
    nid = service.issue_notice(ctx, actor, body.canteen_id, body.text)
    return next(n for n in queries.notices(ctx, body.canteen_id) if n["id"] == nid)


@router.post("/waste/notices/{notice_id}/acknowledge", response_model=NoticeOut, responses=ERRORS)
def post_acknowledge(notice_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """The canteen's unit admin acknowledges a notice (once: again is 409)."""
    service.acknowledge_notice(ctx, actor, notice_id)
    return next(n for n in queries.notices(ctx) if n["id"] == notice_id)


@router.post(
    "/waste/canteens/{canteen_id}/quality-score", response_model=ScoreOut, responses=ERRORS
)
def post_quality_score(canteen_id: IdPath, body: ScoreIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Record the quarter's quality score: the unit's assessment less the waste deduction
    (docs/waste.md); the canteen's score bands then apply at settlement."""
    s = service.record_quality_score(ctx, actor, canteen_id, body.quarter, body.assessed)
    return {**s.__dict__, "canteen_id": canteen_id, "quarter": body.quarter, "final": s.final}


@router.put("/funding/canteens/{canteen_id}/scores/{quarter}", tags=["funding"], responses=ERRORS)
def put_funding_score(
    canteen_id: IdPath, quarter: str, body: FundingScoreIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Record the owning unit's quality score for the quarter (before it is settled): the
    assessment ``score`` less the quarter's waste deduction (docs/waste.md); ``score`` in
    the answer is what was recorded. Served here, not by funding, because funding stands
    below waste and cannot apply the deduction (tests/test_layers.py)."""
    s = service.record_quality_score(ctx, actor, canteen_id, quarter, body.score)
    return {
        "canteen_id": canteen_id,
        "quarter": quarter,
        "score": s.final,
        "assessed": s.assessed,
        "waste_points": s.waste_points,
        "notice_points": s.notice_points,
    }
