"""Waste supervision pages (R-R4, R-S5): the bureau's 反浪费 console and the unit's.

Contract:
- ``/bureau/waste?start=&end=``: waste per diner per canteen over the period (default the
  last 30 days; a table and a bar chart drawn in HTML, no script), the period's days and
  meals, the latest inspections, the notices and (bureau admin) the form to issue one;
  ``/bureau/waste.xlsx`` exports the figures. Readers: ``scopes.bureau_scope``.
- ``/unit/{unit_id}/waste``: the unit's canteens' waste notices with the acknowledgement
  button (its admin), the form for a day's leftover weight, the latest inspections, and
  per canteen the quarter's waste per diner, its deduction (``waste.score``) and the form
  that records the quarter's quality score with it taken off. Readers: ``unit_scope``.
- ``/waste``: the anti-waste supervisor's page (反浪费检查): the inspection form for the
  canteens of the units they supervise (the bureau: every canteen) with an optional
  photo (JPEG/PNG, ≤ 2 MB), and their canteens' latest inspections.
- ``/waste/canteens/{canteen_id}``: one canteen's own page (its manager; its unit's
  admin and supervisors and the city's readers see it too, ``scopes.waste_scope``): the
  form for a day's leftover weight (its manager and its unit's admin), the last 30 days'
  weights with waste per diner, its notices and latest inspections.
- ``/waste/inspections/{id}/photo``: an inspection's photo, for whoever may read that
  canteen's waste records (``scopes.waste_scope``); 404 when it has none. Every list of
  inspections links its photo.
- A domain error is shown on the page with its 4xx status, nothing changed; the services
  check the actor again.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from onecard.core.clock import quarter_of
from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, OneCardError
from onecard.funding.errors import check_quarter
from onecard.org import listing
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.waste import queries, score, service
from onecard.waste.models import MAX_PHOTO
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.pages import unit_page, xlsx_response
from onecard.web.scopes import bureau_scope, can_run_money, unit_scope, waste_scope
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
MAX_DAYS = 366


def _period(ctx: Context, start: str, end: str) -> tuple[date, date]:
    """The period asked for, read leniently: a bad date is the default."""

    def day(text: str) -> date | None:
        try:
            return date.fromisoformat(text) if text else None
        except ValueError:
            return None

    until = day(end) or ctx.clock.today()
    since = day(start) or until - timedelta(days=29)
    if since > until or (until - since).days >= MAX_DAYS:
        since = until - timedelta(days=29)
    return since, until


def _bureau(
    request: Request,
    ctx: Context,
    actor: Actor,
    start: str = "",
    end: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    since, until = _period(ctx, start, end)
    rows = queries.per_diner(ctx, since, until)
    canteens = queries.per_canteen(rows)
    top = max((c.per_diner or 0 for c in canteens), default=0)
    return render(
        request,
        "waste/bureau.html",
        status_code=status_code,
        actor=actor,
        tab="waste",
        can_run=can_run_money(actor),
        is_admin=actor.has("bureau_admin"),
        start=since,
        end=until,
        canteens=canteens,
        top=top,
        days=rows[-60:],
        inspections=queries.inspections(ctx, limit=20),
        notices=queries.notices(ctx),
        choices=[(c.canteen_id, c.canteen) for c in canteens],
        all_canteens=_canteen_choices(ctx),
        error=error,
    )


def _canteen_choices(ctx: Context) -> list[Any]:
    return org_queries.canteen_choices(ctx)


@router.get("/bureau/waste")
def bureau_page(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    bureau_scope(actor)
    return _bureau(request, ctx, actor, start, end)


@router.get("/bureau/waste.xlsx")
def bureau_xlsx(
    actor: ActorDep,
    ctx: CtxDep,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    bureau_scope(actor)
    since, until = _period(ctx, start, end)
    return xlsx_response(queries.per_diner_xlsx(ctx, since, until), f"waste-{since}-{until}.xlsx")


@router.post("/bureau/waste/notices")
def bureau_notice(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    text: Annotated[str, Form(max_length=1000)],
) -> Response:
    bureau_scope(actor)
    try:
        service.issue_notice(ctx, actor, canteen_id, text)
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _bureau(request, ctx, actor, error=msg, status_code=status_for(exc))
    return RedirectResponse("/bureau/waste#notices", status_code=303)


def _unit(
    request: Request,
    ctx: Context,
    actor: Actor,
    unit: Any,
    quarter: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    notices = queries.notices(ctx, unit_id=unit.id)
    own = {u for r, u, _ in actor.grants if r == "unit_admin"}
    canteens = listing.unit_canteens(ctx, unit.id)
    scored = {int(c["id"]): score.quarter_score(ctx, int(c["id"]), quarter, 100) for c in canteens}
    inspections = [i for c in canteens for i in queries.inspections(ctx, int(c["id"]), limit=10)]
    return unit_page(
        request,
        ctx,
        actor,
        unit,
        "waste",
        "waste/unit.html",
        status_code=status_code,
        notices=notices,
        can_ack=unit.id in own,
        quarter=quarter,
        scored=scored,
        inspections=sorted(inspections, key=lambda i: i["inspected_on"], reverse=True)[:20],
        meals=service.MEALS,
        today=ctx.clock.today(),
        error=error,
    )


def _quarter(ctx: Context, quarter: str | None) -> str:
    try:
        return check_quarter(quarter) if quarter else quarter_of(ctx.clock.today())
    except InvalidInput:
        return quarter_of(ctx.clock.today())


@router.get("/unit/{unit_id}/waste")
def unit_waste(
    request: Request,
    unit_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    quarter: Annotated[str | None, Query(max_length=6)] = None,
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    return _unit(request, ctx, actor, unit, _quarter(ctx, quarter))


@router.post("/unit/{unit_id}/waste/notices/{notice_id}/ack")
def unit_ack(
    request: Request, unit_id: IdPath, notice_id: IdPath, actor: ActorDep, ctx: CtxDep
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    if notice_id not in {int(n["id"]) for n in queries.notices(ctx, unit_id=unit_id)}:
        raise NotFound(what="通报")
    try:
        service.acknowledge_notice(ctx, actor, notice_id)
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _unit(request, ctx, actor, unit, _quarter(ctx, None), msg, status_for(exc))
    return RedirectResponse(f"/unit/{unit_id}/waste#notices", status_code=303)


def _own_canteen(ctx: Context, unit_id: int, canteen_id: int) -> None:
    if org_queries.canteen_owner(ctx, canteen_id) != unit_id:
        raise NotFound(what="食堂")


@router.post("/unit/{unit_id}/waste/weights")
def unit_weight(
    request: Request,
    unit_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    day: Annotated[date, Form()],
    meal: Annotated[str, Form(max_length=20)],
    leftover_kg: Annotated[str, Form(max_length=20)],
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    _own_canteen(ctx, unit_id, canteen_id)
    try:
        service.record_weight(ctx, actor, canteen_id, day, meal, leftover_kg)
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _unit(request, ctx, actor, unit, _quarter(ctx, None), msg, status_for(exc))
    return RedirectResponse(f"/unit/{unit_id}/waste?saved=weight", status_code=303)


@router.post("/unit/{unit_id}/waste/score")
def unit_score(
    request: Request,
    unit_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    quarter: Annotated[str, Form(max_length=6)],
    assessed: Annotated[int, Form(ge=0, le=100)],
) -> Response:
    unit = unit_scope(ctx, actor, unit_id)
    _own_canteen(ctx, unit_id, canteen_id)
    q = _quarter(ctx, quarter)
    try:
        service.record_quality_score(ctx, actor, canteen_id, q, assessed)
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _unit(request, ctx, actor, unit, q, msg, status_for(exc))
    return RedirectResponse(f"/unit/{unit_id}/quality?quarter={q}", status_code=303)


def _supervised(ctx: Context, actor: Actor) -> list[Any]:
    if actor.is_bureau:
        return [{"id": c.id, "name": c.name} for c in org_queries.canteen_choices(ctx)]
    units = sorted({u for r, u, _ in actor.grants if r == "waste_supervisor" and u is not None})
    if not units:
        raise Forbidden()
    return [c for u in units for c in listing.unit_canteens(ctx, u)]


def _inspector(
    request: Request,
    ctx: Context,
    actor: Actor,
    error: str | None = None,
    status_code: int = 200,
    saved: bool = False,
) -> Response:
    canteens = _supervised(ctx, actor)
    inspections = [i for c in canteens for i in queries.inspections(ctx, int(c["id"]), limit=10)]
    return render(
        request,
        "waste/inspect.html",
        status_code=status_code,
        actor=actor,
        canteens=canteens,
        meals=service.MEALS,
        today=ctx.clock.today(),
        inspections=sorted(inspections, key=lambda i: i["id"], reverse=True)[:20],
        error=error,
        saved=saved,
    )


@router.get("/waste")
def inspect_page(
    request: Request, actor: ActorDep, ctx: CtxDep, saved: str | None = None
) -> Response:
    return _inspector(request, ctx, actor, saved=saved == "1")


@router.post("/waste/inspections")
def inspect(
    request: Request,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
    day: Annotated[date, Form()],
    meal: Annotated[str, Form(max_length=20)],
    leftover_kg: Annotated[str, Form(max_length=20)],
    findings: Annotated[str, Form(max_length=1000)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    _supervised(ctx, actor)
    data = photo.file.read(MAX_PHOTO + 1) if photo is not None and photo.filename else None
    try:
        service.record_inspection(ctx, actor, canteen_id, day, meal, leftover_kg, findings, data)
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _inspector(request, ctx, actor, msg, status_for(exc))
    return RedirectResponse("/waste?saved=1", status_code=303)


@router.get("/waste/inspections/{inspection_id}/photo")
def inspection_photo(inspection_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    found = queries.inspection_photo(ctx, inspection_id)
    if found is None:
        raise NotFound(what="照片")
    canteen_id, photo, media = found
    waste_scope(ctx, actor, canteen_id)
    # Private: a photo of a canteen's leftovers is for those who supervise it.
    return Response(photo, media_type=media, headers={"Cache-Control": "private, max-age=300"})


def _canteen_page(
    request: Request,
    ctx: Context,
    actor: Actor,
    canteen_id: int,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    unit_id = waste_scope(ctx, actor, canteen_id)
    today = ctx.clock.today()
    days = queries.per_diner(ctx, today - timedelta(days=29), today, canteen_id)
    return render(
        request,
        "waste/canteen.html",
        status_code=status_code,
        actor=actor,
        canteen=org_queries.canteen_name(ctx, canteen_id),
        canteen_id=canteen_id,
        writable=actor.manages_canteen(canteen_id, unit_id),
        days=sorted(days, key=lambda d: (d.day, d.meal), reverse=True),
        total=next(iter(queries.per_canteen(days)), None),
        notices=queries.notices(ctx, canteen_id=canteen_id),
        inspections=queries.inspections(ctx, canteen_id, limit=20),
        meals=service.MEALS,
        today=today,
        error=error,
    )


@router.get("/waste/canteens/{canteen_id}")
def canteen_waste(request: Request, canteen_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    return _canteen_page(request, ctx, actor, canteen_id)


@router.post("/waste/canteens/{canteen_id}/weights")
def canteen_weight(
    request: Request,
    canteen_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    day: Annotated[date, Form()],
    meal: Annotated[str, Form(max_length=20)],
    leftover_kg: Annotated[str, Form(max_length=20)],
) -> Response:
    waste_scope(ctx, actor, canteen_id)
    try:
        service.record_weight(ctx, actor, canteen_id, day, meal, leftover_kg)
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _canteen_page(request, ctx, actor, canteen_id, msg, status_for(exc))
    return RedirectResponse(f"/waste/canteens/{canteen_id}?saved=1", status_code=303)
