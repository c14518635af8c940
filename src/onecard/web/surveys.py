"""Satisfaction survey pages (R-S3): publishing and results, and the diner's form.

Contract:
- ``/surveys``: the surveys the actor sees (the city's readers: all; a canteen manager
  or unit admin: their canteens' and the city-wide ones) with their state and number of
  answers, and the form to publish one (the bureau: the whole city or chosen canteens;
  a canteen's manager or unit admin: the canteens they run). The form offers
  ``FORM_QUESTIONS`` question rows; a row without a question text is skipped; options
  one per line. ``/surveys/{id}``: results per canteen with charts (the vendored
  ECharts, ``static/js/surveys.js``, drawn from the numbers in the page) and the
  free-text answers, ``/surveys/{id}/results.xlsx`` the workbook; the close button for
  whoever may close it.
- ``/me/surveys``: the diner's open surveys; ``/me/surveys/{id}``: the form (a canteen
  to rate, a radio per choice and star, check boxes for multiple choice, a text box).
  Answering twice, or outside the period: the refusal on the page, with its 409.
- A domain error is shown on the page with its 4xx status, nothing changed; the service
  checks the actor again.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from onecard.core.context import Context
from onecard.core.errors import Forbidden, InvalidInput, NotFound, OneCardError
from onecard.org import queries as org_queries
from onecard.org.actors import Actor
from onecard.surveys import queries, service
from onecard.surveys.models import MAX_OPTION, MAX_OPTIONS, MAX_QUESTION
from onecard.web.csrf import csrf_protect
from onecard.web.deps import ActorDep, CtxDep, IdForm, IdPath
from onecard.web.errors import status_for
from onecard.web.i18n import request_lang
from onecard.web.pages import xlsx_response
from onecard.web.scopes import can_run_money
from onecard.web.templating import render

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
FORM_QUESTIONS = 6
KINDS = ("single", "multi", "stars", "text")


def _canteens_run(ctx: Context, actor: Actor) -> list[Any]:
    """The canteens this actor may publish for (``Actor.manages_canteen``)."""
    managed = {c for r, _, c in actor.grants if r == "canteen_manager"}
    units = {u for r, u, _ in actor.grants if r == "unit_admin"}
    return [
        {"id": int(c.id), "name": c.name}
        for c in org_queries.canteen_choices(ctx)
        if actor.is_bureau
        or c.id in managed
        or (units and org_queries.canteen_owner(ctx, c.id) in units)
    ]


def _manage(
    request: Request,
    ctx: Context,
    actor: Actor,
    error: str | None = None,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
) -> Response:
    today = ctx.clock.today()
    return render(
        request,
        "surveys/manage.html",
        status_code=status_code,
        actor=actor,
        tab="surveys",
        is_reader=actor.can_read_everything(),
        can_run=can_run_money(actor),
        can_publish=actor.is_bureau or actor.has("canteen_manager", "unit_admin"),
        is_bureau=actor.is_bureau,
        surveys=queries.listed(ctx, actor, today),
        canteens=_canteens_run(ctx, actor),
        units=org_queries.unit_choices(ctx) if actor.is_bureau else [],
        kinds=KINDS,
        rows=range(1, FORM_QUESTIONS + 1),
        today=today,
        form=form or {},
        error=error,
        max_question=MAX_QUESTION,
    )


@router.get("/surveys")
def manage_page(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    return _manage(request, ctx, actor)


def _questions(form: Any) -> list[service.QuestionSpec]:
    out = []
    for i in range(1, FORM_QUESTIONS + 1):
        text = str(form.get(f"q{i}_text") or "")[: MAX_QUESTION + 1]
        if not text.strip():
            continue
        kind = str(form.get(f"q{i}_kind") or "")
        raw = str(form.get(f"q{i}_options") or "")[: (MAX_OPTION + 2) * (MAX_OPTIONS + 1)]
        options = [o.strip() for o in raw.splitlines() if o.strip()]
        out.append(
            service.QuestionSpec(kind, text, options, required=bool(form.get(f"q{i}_required")))
        )
    return out


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what}不是有效日期") from None


@router.post("/surveys")
async def publish(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    if not (actor.is_bureau or actor.has("canteen_manager", "unit_admin")):
        raise Forbidden()
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        canteen_ids = []
        for v in form.getlist("canteen_id"):
            if not str(v).isdigit() or len(str(v)) > 18:
                raise InvalidInput("食堂选择有误")
            canteen_ids.append(int(str(v)))
        unit = fields.get("audience_unit_id", "")
        audience = fields.get("audience", "all")[:10]
        if unit and (not unit.isdigit() or len(unit) > 18):
            raise InvalidInput("单位选择有误")
        spec = service.SurveySpec(
            title=fields.get("title", "")[:200],
            intro=fields.get("intro", "")[:1000],
            starts_on=_day(fields.get("starts_on", "")[:10], "开始日期"),
            ends_on=_day(fields.get("ends_on", "")[:10], "结束日期"),
            audience=audience,
            audience_unit_id=int(unit) if unit and audience == "unit" else None,
            canteen_ids=canteen_ids,
            questions=_questions(fields),
        )
        sid = service.publish(ctx, actor, spec)
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _manage(request, ctx, actor, msg, status_for(exc), fields)
    return RedirectResponse(f"/surveys/{sid}", status_code=303)


def _results(
    request: Request,
    ctx: Context,
    actor: Actor,
    survey_id: int,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    seen = queries.visible_canteens(ctx, actor, survey_id)
    r = queries.results(ctx, survey_id, seen)
    mine = [s for s in queries.listed(ctx, actor, ctx.clock.today()) if s["id"] == survey_id]
    return render(
        request,
        "surveys/results.html",
        status_code=status_code,
        actor=actor,
        tab="surveys",
        is_reader=actor.can_read_everything(),
        can_run=can_run_money(actor),
        r=r,
        s=r["survey"],
        can_close=bool(mine and mine[0]["can_close"]),
        error=error,
    )


@router.get("/surveys/{survey_id}")
def results_page(request: Request, survey_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    return _results(request, ctx, actor, survey_id)


@router.get("/surveys/{survey_id}/results.xlsx")
def results_xlsx(survey_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    seen = queries.visible_canteens(ctx, actor, survey_id)
    return xlsx_response(queries.results_xlsx(ctx, survey_id, seen), f"survey-{survey_id}.xlsx")


@router.post("/surveys/{survey_id}/close")
def close(request: Request, survey_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    queries.visible_canteens(ctx, actor, survey_id)  # 404 / 403 before anything
    try:
        service.close(ctx, actor, survey_id)
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        return _results(request, ctx, actor, survey_id, msg, status_for(exc))
    return RedirectResponse(f"/surveys/{survey_id}", status_code=303)


# --- the diner ------------------------------------------------------------------------------
def _person(actor: Actor) -> int:
    if actor.person_id is None:
        raise Forbidden()
    return actor.person_id


@router.get("/me/surveys")
def my_surveys(request: Request, actor: ActorDep, ctx: CtxDep, done: str | None = None) -> Response:
    return render(
        request,
        "surveys/mine.html",
        actor=actor,
        surveys=queries.open_for(ctx, _person(actor), ctx.clock.today()),
        done=done == "1",
    )


def _form(
    request: Request,
    ctx: Context,
    actor: Actor,
    survey_id: int,
    error: str | None = None,
    status_code: int = 200,
    given: dict[str, Any] | None = None,
) -> Response:
    today = ctx.clock.today()
    mine = [s for s in queries.open_for(ctx, _person(actor), today) if s["id"] == survey_id]
    if not mine:
        detail = queries.detail(ctx, survey_id, today)  # 404 when there is no such survey
        if error is None:
            raise NotFound(what="问卷")
        mine = [{**detail, "answerable": [], "answered": False}]
    return render(
        request,
        "surveys/answer.html",
        status_code=status_code,
        actor=actor,
        s=mine[0],
        questions=queries.detail(ctx, survey_id, today)["questions"],
        error=error,
        given=given or {},
    )


@router.get("/me/surveys/{survey_id}")
def answer_page(request: Request, survey_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    return _form(request, ctx, actor, survey_id)


def _answers(form: Any, questions: list[dict[str, Any]]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for q in questions:
        key = f"q{q['id']}"
        values = [str(v)[:600] for v in form.getlist(key)][:MAX_OPTIONS]
        if q["kind"] == "text":
            out[q["id"]] = values[0] if values else ""
            continue
        picks = []
        for v in (v for v in values if v.strip()):
            if not v.isdigit() or len(v) > 2:
                raise InvalidInput(f"第 {q['position']} 题的答案有误")
            picks.append(int(v))
        out[q["id"]] = picks if q["kind"] == "multi" else (picks[0] if picks else None)
    return out


@router.post("/me/surveys/{survey_id}")
async def answer(
    request: Request,
    survey_id: IdPath,
    actor: ActorDep,
    ctx: CtxDep,
    canteen_id: IdForm,
) -> Response:
    today = ctx.clock.today()
    questions = queries.detail(ctx, survey_id, today)["questions"]
    form = await request.form()
    try:
        service.answer(ctx, actor, survey_id, canteen_id, _answers(form, questions))
    except OneCardError as exc:
        msg = exc.message(request_lang(request))
        given = {k: [str(v) for v in form.getlist(k)] for k in form}
        return _form(request, ctx, actor, survey_id, msg, status_for(exc), given)
    return RedirectResponse("/me/surveys?done=1", status_code=303)
