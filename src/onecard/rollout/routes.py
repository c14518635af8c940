"""Rollout and acceptance API (/api/v1/rollout, R-R1, R-R3).

Thin: ``rollout.service`` checks the actor again and holds every rule; reads come from
``rollout.queries``. Reads are for the bureau and its overseers (finance, auditors), a
unit's notices also for that unit's admin. A move its state machine has not is
409 ``illegal_transition``, a canteen's go-live without a passed inspection or a live
terminal 409 ``go_live_refused`` (the reason in the message), nothing written.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from onecard.core.errors import Forbidden
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.rollout import queries, service
from onecard.rollout import states as st
from onecard.rollout.schemas import (
    CanteenPlanOut,
    CanteenStateOut,
    InspectionIn,
    InspectionOut,
    MoveIn,
    MoveOut,
    NoticeIn,
    NoticeOut,
    PlannedOut,
    ProgressOut,
    TerminalOut,
    UnitProgressOut,
)
from onecard.web.deps import ActorDep, CtxDep, IdPath, OptionalIdQuery
from onecard.web.scopes import unit_scope

router = APIRouter(prefix="/api/v1/rollout", tags=["rollout"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _reader(actor: Actor) -> None:
    if not actor.can_read_everything():
        raise Forbidden()


def _plan_out(c: queries.CanteenPlan) -> dict[str, Any]:
    return {**c.__dict__}


@router.get("/plan", response_model=list[CanteenPlanOut], responses=ERRORS)
def get_plan(actor: ActorDep, ctx: CtxDep) -> Any:
    """Every canteen's terminal plan: one per window, at least one per 150 diners."""
    _reader(actor)
    return [_plan_out(c) for c in queries.plan(ctx)]


@router.post(
    "/canteens/{canteen_id}/plan", response_model=PlannedOut, status_code=201, responses=ERRORS
)
def post_plan(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> PlannedOut:
    """Add the canteen's missing terminals as ``planned`` (none when the plan is met)."""
    return PlannedOut(canteen_id=canteen_id, created=service.plan_terminals(ctx, actor, canteen_id))


@router.get("/terminals", response_model=list[TerminalOut], responses=ERRORS)
def get_terminals(actor: ActorDep, ctx: CtxDep, canteen_id: OptionalIdQuery = None) -> Any:
    """Terminals with their states (of one canteen when ``canteen_id`` is given)."""
    _reader(actor)
    return queries.terminals(ctx, canteen_id)


def _move(ctx: Any, actor: Actor, terminal_id: int, to: str, note: str = "") -> MoveOut:
    key = service.move_terminal(ctx, actor, terminal_id, to, note)
    return MoveOut(id=terminal_id, status=to, device_key=key)


@router.post("/terminals/{terminal_id}/install", response_model=MoveOut, responses=ERRORS)
def post_install(terminal_id: IdPath, actor: ActorDep, ctx: CtxDep) -> MoveOut:
    """planned → installed: issues the device key, returned only here."""
    return _move(ctx, actor, terminal_id, st.INSTALLED)


@router.post("/terminals/{terminal_id}/accept", response_model=MoveOut, responses=ERRORS)
def post_accept(
    terminal_id: IdPath, actor: ActorDep, ctx: CtxDep, body: MoveIn | None = None
) -> MoveOut:
    """installed → accepted (the terminal was tested on site)."""
    return _move(ctx, actor, terminal_id, st.ACCEPTED, body.note if body else "")


@router.post("/terminals/{terminal_id}/live", response_model=MoveOut, responses=ERRORS)
def post_live(terminal_id: IdPath, actor: ActorDep, ctx: CtxDep) -> MoveOut:
    """accepted → live: from now on the terminal takes payments."""
    return _move(ctx, actor, terminal_id, st.LIVE)


@router.post("/terminals/{terminal_id}/revoke", response_model=MoveOut, responses=ERRORS)
def post_revoke(
    terminal_id: IdPath, actor: ActorDep, ctx: CtxDep, body: MoveIn | None = None
) -> MoveOut:
    """Any state → revoked: its next request is refused (403 terminal_revoked)."""
    return _move(ctx, actor, terminal_id, st.REVOKED, body.note if body else "")


@router.post(
    "/canteens/{canteen_id}/inspections",
    response_model=InspectionOut,
    status_code=201,
    responses=ERRORS,
)
def post_inspection(
    canteen_id: IdPath, body: InspectionIn, actor: ActorDep, ctx: CtxDep
) -> InspectionOut:
    """Record an acceptance visit; it passes when every item passed."""
    iid, passed = service.record_inspection(
        ctx,
        actor,
        canteen_id,
        body.inspected_on,
        [(i.item, i.passed) for i in body.items],
        body.note,
    )
    return InspectionOut(
        id=iid, passed=passed, rollout_status=queries.canteen_plan(ctx, canteen_id).rollout_status
    )


@router.post("/canteens/{canteen_id}/live", response_model=CanteenStateOut, responses=ERRORS)
def post_canteen_live(canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> CanteenStateOut:
    """inspected → live (needs a passed inspection and a live terminal)."""
    service.make_canteen_live(ctx, actor, canteen_id)
    return CanteenStateOut(id=canteen_id, rollout_status=st.LIVE)


@router.get("/progress", response_model=ProgressOut, responses=ERRORS)
def get_progress(actor: ActorDep, ctx: CtxDep) -> Any:
    """Card issuing per unit and for the city: people with an active card ÷ people."""
    _reader(actor)
    units, city = queries.card_progress(ctx)
    return {"units": [_cards(u) for u in units], "city": _cards(city)}


def _cards(u: queries.UnitCards) -> dict[str, Any]:
    return {**u.__dict__, "pct": u.pct}


@router.get("/supervision", response_model=list[UnitProgressOut], responses=ERRORS)
def get_supervision(actor: ActorDep, ctx: CtxDep, behind_only: bool = False) -> Any:
    """Each unit against the plan (most behind first); ``behind_only`` for the slow ones."""
    _reader(actor)
    return [u.as_dict() for u in queries.supervision(ctx, behind_only)]


@router.get(
    "/supervision.xlsx",
    responses={**ERRORS, 200: {"content": {XLSX: {}}}},
    response_class=Response,
)
def get_supervision_xlsx(actor: ActorDep, ctx: CtxDep) -> Response:
    """The supervision list and every notice, as Excel."""
    _reader(actor)
    return Response(
        queries.supervision_xlsx(ctx),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="supervision.xlsx"'},
    )


@router.post("/notices", response_model=NoticeOut, status_code=201, responses=ERRORS)
def post_notice(body: NoticeIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """The bureau urges (督办, ``urge``) or praises (通报表扬, ``praise``) a unit."""
    nid = service.issue_notice(ctx, actor, body.unit_id, body.kind, body.text)
    return next(n for n in queries.notices(ctx, body.unit_id) if n["id"] == nid)


@router.get("/units/{unit_id}/notices", response_model=list[NoticeOut], responses=ERRORS)
def get_unit_notices(unit_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """The notices the bureau sent a unit (its admin, or the bureau and overseers)."""
    unit_scope(ctx, actor, unit_id)  # 403 outside the unit, 404 no such unit
    return queries.notices(ctx, unit_id)


@router.post(
    "/units/{unit_id}/notices/{notice_id}/acknowledge", response_model=NoticeOut, responses=ERRORS
)
def post_acknowledge(unit_id: IdPath, notice_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """The unit's administrator acknowledges a notice (once: again is 409)."""
    service.acknowledge_notice(ctx, actor, notice_id, unit_id)
    return next(n for n in queries.notices(ctx, unit_id) if n["id"] == notice_id)
