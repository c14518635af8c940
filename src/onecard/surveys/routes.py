"""Satisfaction surveys API (/api/v1/surveys, /api/v1/me/surveys; R-S3).

Thin: ``surveys.service`` checks the actor again and holds every rule; reads come from
``surveys.queries``. A bad survey (no question, an option too long, a choice question
with one option): 422; a period backwards, over or too long: 409
``survey_period_refused``; nothing written. Answering twice:
409 ``already_answered``; outside the period or once closed: 409 ``survey_not_open``;
not in the survey's audience: 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from onecard.core.errors import Forbidden, NotFound
from onecard.org.actors import Actor
from onecard.pay.schemas import ErrorOut
from onecard.surveys import queries, service
from onecard.surveys.schemas import (
    ChoiceQuestionIn,
    MySurveyDetailOut,
    MySurveyOut,
    ResponseIn,
    ResponseOut,
    ResultsOut,
    SurveyDetailOut,
    SurveyIn,
    SurveyOut,
    UnitStaffIn,
)
from onecard.web.deps import ActorDep, CtxDep, IdPath

router = APIRouter(prefix="/api/v1", tags=["surveys"])

ERRORS: dict[int | str, dict[str, object]] = {
    s: {"model": ErrorOut} for s in (401, 403, 404, 409, 422)
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def spec_of(body: SurveyIn) -> service.SurveySpec:
    return service.SurveySpec(
        title=body.title,
        intro=body.intro,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        audience=body.audience.kind,
        audience_unit_id=body.audience.unit_id if isinstance(body.audience, UnitStaffIn) else None,
        canteen_ids=list(body.canteen_ids),
        questions=[
            service.QuestionSpec(
                q.kind,
                q.text,
                list(q.options) if isinstance(q, ChoiceQuestionIn) else [],
                q.required,
            )
            for q in body.questions
        ],
    )


def _person(actor: Actor) -> int:
    if actor.person_id is None:
        raise Forbidden()
    return actor.person_id


@router.post("/surveys", response_model=SurveyDetailOut, status_code=201, responses=ERRORS)
def post_survey(body: SurveyIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Publish a survey: the bureau for the whole city (no ``canteen_ids``) or chosen
    canteens; a canteen's manager (or its unit's admin) for the canteens they run."""
    sid = service.publish(ctx, actor, spec_of(body))
    return queries.detail(ctx, sid, ctx.clock.today())


@router.get("/surveys", response_model=list[SurveyOut], responses=ERRORS)
def get_surveys(actor: ActorDep, ctx: CtxDep) -> Any:
    """The surveys the caller sees: all for the city's readers, else those of the
    canteens they run and the city-wide ones (newest 200)."""
    return queries.listed(ctx, actor, ctx.clock.today())


@router.get("/surveys/{survey_id}/results", response_model=ResultsOut, responses=ERRORS)
def get_results(survey_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """Results per canteen (the caller's canteens only, unless a city reader) and in all:
    counts per option and star, average stars, the free-text answers. No names."""
    seen = queries.visible_canteens(ctx, actor, survey_id)
    return queries.results(ctx, survey_id, seen)


@router.get(
    "/surveys/{survey_id}/results.xlsx",
    responses={200: {"content": {XLSX: {}}}, **ERRORS},
    response_class=Response,
)
def get_results_xlsx(survey_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Response:
    """The same as an Excel workbook (choices, and every free-text answer)."""
    seen = queries.visible_canteens(ctx, actor, survey_id)
    return Response(
        queries.results_xlsx(ctx, survey_id, seen),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="survey-{survey_id}.xlsx"'},
    )


@router.post("/surveys/{survey_id}/close", response_model=SurveyOut, responses=ERRORS)
def post_close(survey_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """Close a survey before its end (whoever could publish it; once: again is 409)."""
    service.close(ctx, actor, survey_id)
    return queries.detail(ctx, survey_id, ctx.clock.today())


@router.get("/me/surveys", response_model=list[MySurveyOut], responses=ERRORS)
def get_my_surveys(actor: ActorDep, ctx: CtxDep) -> Any:
    """The surveys open today that the caller may answer, and whether they have."""
    return queries.open_for(ctx, _person(actor), ctx.clock.today())


@router.get("/me/surveys/{survey_id}", response_model=MySurveyDetailOut, responses=ERRORS)
def get_my_survey(survey_id: IdPath, actor: ActorDep, ctx: CtxDep) -> Any:
    """One open survey's questions and the canteens the caller may answer about (404 for
    a survey not open to the caller)."""
    today = ctx.clock.today()
    mine = [s for s in queries.open_for(ctx, _person(actor), today) if s["id"] == survey_id]
    if not mine:
        raise NotFound(what="问卷")
    return {**mine[0], "questions": queries.detail(ctx, survey_id, today)["questions"]}


@router.post(
    "/me/surveys/{survey_id}/responses",
    response_model=ResponseOut,
    status_code=201,
    responses=ERRORS,
)
def post_response(survey_id: IdPath, body: ResponseIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Answer a survey, once, about one of its canteens; ``value`` per question: an option
    index, a list of them (multiple choice), 1–5 stars or text."""
    answers = {a.question_id: a.value for a in body.answers}
    rid = service.answer(ctx, actor, survey_id, body.canteen_id, answers)
    return {"response_id": rid, "survey_id": survey_id, "canteen_id": body.canteen_id}
