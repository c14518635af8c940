"""Read models of the satisfaction surveys: the pages, the API and the Excel read these.

Contract: reads only, one read transaction each.
- ``listed(ctx, actor, today)`` — the surveys the actor sees: every one for the city's
  readers, else those naming a canteen the actor runs (its manager, its unit's admin),
  city-wide ones included; each with its state, canteens and number of responses.
- ``detail(ctx, survey_id, today)`` — one survey with its questions (options as a list).
- ``open_for(ctx, person_id, today)`` — the surveys open today whose audience holds the
  person, each with the canteens they may answer about and whether they answered.
- ``visible_canteens(ctx, actor, survey_id)`` — whose results the actor may read: None
  (all) for the city's readers, else the survey's canteens they run; ``Forbidden`` if
  none.
- ``results(ctx, survey_id, canteens)`` — per canteen (and all of them together): the
  responses, each choice question's count per option, each stars question's count per
  star and average, each text question's answers (newest first). No names.
- ``results_xlsx(ctx, survey_id, canteens)`` — the same as a workbook (``org.tables``).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from onecard.core.context import Context
from onecard.core.errors import Forbidden, NotFound
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Unit
from onecard.org.tables import xlsx
from onecard.surveys.models import (
    Survey,
    SurveyAnswer,
    SurveyCanteen,
    SurveyQuestion,
    SurveyResponse,
)
from onecard.surveys.service import (
    answerable_canteens,
    may_manage,
    open_state,
    survey_canteens,
)

KIND_ZH = {"single": "单选", "multi": "多选", "stars": "星级", "text": "文字"}
AUDIENCE_ZH = {"all": "全体就餐人员", "unit": "指定单位职工", "ate": "期间在该食堂就餐的人员"}
MAX_TEXTS = 200  # free-text answers listed per question and canteen (all of them in Excel)


def _names(conn: Connection, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        int(i): str(n)
        for i, n in conn.execute(select(Canteen.id, Canteen.name).where(Canteen.id.in_(ids)))
    }


def _run_canteens(actor: Actor) -> tuple[set[int], set[int]]:
    """(canteens it manages, units it administers)."""
    canteens = {int(c) for r, _, c in actor.grants if r == "canteen_manager" and c is not None}
    units = {int(u) for r, u, _ in actor.grants if r == "unit_admin" and u is not None}
    return canteens, units


def _row(conn: Connection, s: Any, today: date, names: dict[int, str]) -> dict[str, Any]:
    ids = survey_canteens(conn, int(s.id))
    responses = conn.execute(
        select(func.count()).where(SurveyResponse.survey_id == s.id)
    ).scalar_one()
    unit = None
    if s.audience_unit_id is not None:
        unit = conn.execute(select(Unit.name).where(Unit.id == s.audience_unit_id)).scalar()
    return {
        "id": int(s.id),
        "title": s.title,
        "intro": s.intro,
        "city_wide": bool(s.city_wide),
        "by_bureau": bool(s.by_bureau),
        "audience": s.audience,
        "audience_unit_id": s.audience_unit_id,
        "audience_unit": unit,
        "starts_on": s.starts_on,
        "ends_on": s.ends_on,
        "state": open_state(s, today),
        "canteen_ids": ids,
        "canteens": [names.get(c, str(c)) for c in ids],
        "responses": int(responses),
        "created_by": s.created_by,
        "created_at": s.created_at,
        "closed_at": s.closed_at,
    }


def listed(ctx: Context, actor: Actor, today: date) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        q = select(Survey).order_by(Survey.starts_on.desc(), Survey.id.desc()).limit(200)
        if not actor.can_read_everything():
            canteens, units = _run_canteens(actor)
            if not canteens and not units:
                raise Forbidden()
            mine = select(Canteen.id).where(
                Canteen.id.in_(sorted(canteens)) | Canteen.unit_id.in_(sorted(units))
            )
            named = select(SurveyCanteen.survey_id).where(SurveyCanteen.canteen_id.in_(mine))
            q = q.where(Survey.id.in_(named) | Survey.city_wide)
        surveys = list(conn.execute(q))
        ids = sorted({c for s in surveys for c in survey_canteens(conn, int(s.id))})
        names = _names(conn, ids)
        out = [_row(conn, s, today, names) for s in surveys]
        for row, s in zip(out, surveys, strict=True):
            row["can_close"] = row["state"] in ("open", "upcoming") and may_manage(conn, actor, s)
        return out


def _questions(conn: Connection, survey_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": int(q.id),
            "position": int(q.position),
            "kind": q.kind,
            "text": q.text,
            "options": json.loads(q.options),
            "required": bool(q.required),
        }
        for q in conn.execute(
            select(SurveyQuestion)
            .where(SurveyQuestion.survey_id == survey_id)
            .order_by(SurveyQuestion.position)
        )
    ]


def _survey(conn: Connection, survey_id: int) -> Any:
    s = conn.execute(select(Survey).where(Survey.id == survey_id)).first()
    if s is None:
        raise NotFound(what="问卷")
    return s


def detail(ctx: Context, survey_id: int, today: date) -> dict[str, Any]:
    with ctx.db.read() as conn:
        s = _survey(conn, survey_id)
        row = _row(conn, s, today, _names(conn, survey_canteens(conn, survey_id)))
        row["questions"] = _questions(conn, survey_id)
        return row


def open_for(ctx: Context, person_id: int, today: date) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        surveys = list(
            conn.execute(
                select(Survey)
                .where(
                    Survey.starts_on <= today,
                    Survey.ends_on >= today,
                    Survey.closed_at.is_(None),
                )
                .order_by(Survey.ends_on, Survey.id)
                .limit(50)
            )
        )
        answered = {
            int(r.survey_id): int(r.canteen_id)
            for r in conn.execute(
                select(SurveyResponse.survey_id, SurveyResponse.canteen_id).where(
                    SurveyResponse.person_id == person_id,
                    SurveyResponse.survey_id.in_([int(s.id) for s in surveys]),
                )
            )
        }
        out = []
        for s in surveys:
            allowed = answerable_canteens(conn, s, person_id, today)
            if not allowed and int(s.id) not in answered:
                continue
            names = _names(conn, allowed)
            row = _row(conn, s, today, _names(conn, survey_canteens(conn, int(s.id))))
            row["answerable"] = [{"id": c, "name": names.get(c, str(c))} for c in allowed]
            row["answered"] = int(s.id) in answered
            out.append(row)
        return out


def visible_canteens(ctx: Context, actor: Actor, survey_id: int) -> set[int] | None:
    with ctx.db.read() as conn:
        s = _survey(conn, survey_id)
        if actor.can_read_everything():
            return None
        canteens, units = _run_canteens(actor)
        q = select(Canteen.id).where(
            Canteen.id.in_(sorted(canteens)) | Canteen.unit_id.in_(sorted(units))
        )
        mine = {int(c) for c in conn.execute(q).scalars()}
        seen = mine if s.city_wide else mine & set(survey_canteens(conn, survey_id))
        if not seen:
            raise Forbidden()
        return seen


def _tally(questions: list[dict[str, Any]], answers: list[Any]) -> list[dict[str, Any]]:
    out = []
    for q in questions:
        mine = [a for a in answers if a.question_id == q["id"]]
        item: dict[str, Any] = {**q, "answered": len({a.response_id for a in mine})}
        if q["kind"] == "text":
            item["texts"] = [a.text for a in sorted(mine, key=lambda a: -a.id) if a.text]
        elif q["kind"] == "stars":
            counts = [sum(1 for a in mine if a.choice == n) for n in range(1, 6)]
            total = sum(counts)
            item["counts"] = counts
            item["average"] = (
                round(sum(n * c for n, c in zip(range(1, 6), counts, strict=True)) / total, 2)
                if total
                else None
            )
        else:
            item["counts"] = [
                sum(1 for a in mine if a.choice == i) for i in range(len(q["options"]))
            ]
        out.append(item)
    return out


def results(ctx: Context, survey_id: int, canteens: set[int] | None = None) -> dict[str, Any]:
    with ctx.db.read() as conn:
        s = _survey(conn, survey_id)
        questions = _questions(conn, survey_id)
        q = (
            select(
                SurveyAnswer.id,
                SurveyAnswer.response_id,
                SurveyAnswer.question_id,
                SurveyAnswer.choice,
                SurveyAnswer.text,
                SurveyResponse.canteen_id,
            )
            .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
            .where(SurveyResponse.survey_id == survey_id)
        )
        rq = select(SurveyResponse.canteen_id, func.count()).where(
            SurveyResponse.survey_id == survey_id
        )
        if canteens is not None:
            q = q.where(SurveyResponse.canteen_id.in_(sorted(canteens)))
            rq = rq.where(SurveyResponse.canteen_id.in_(sorted(canteens)))
        answers = list(conn.execute(q))
        per = {int(c): int(n) for c, n in conn.execute(rq.group_by(SurveyResponse.canteen_id))}
        shown = sorted(set(per) | (set() if s.city_wide else set(survey_canteens(conn, survey_id))))
        if canteens is not None:
            shown = [c for c in shown if c in canteens]
        names = _names(conn, shown)
        row = _row(conn, s, ctx.clock.today(), _names(conn, survey_canteens(conn, survey_id)))
    return {
        "survey": row,
        "responses": sum(per.values()),
        "all": _tally(questions, answers),
        "canteens": [
            {
                "canteen_id": c,
                "canteen": names.get(c, str(c)),
                "responses": per.get(c, 0),
                "questions": _tally(questions, [a for a in answers if a.canteen_id == c]),
            }
            for c in sorted(shown, key=lambda c: names.get(c, ""))
        ],
    }


def results_xlsx(ctx: Context, survey_id: int, canteens: set[int] | None = None) -> bytes:
    r = results(ctx, survey_id, canteens)
    choice_rows: list[list[Any]] = []
    text_rows: list[list[Any]] = []
    for c in [
        {"canteen": "合计", "responses": r["responses"], "questions": r["all"]},
        *r["canteens"],
    ]:
        for q in c["questions"]:
            if q["kind"] == "text":
                if c["canteen"] != "合计":
                    text_rows += [[c["canteen"], q["position"], q["text"], t] for t in q["texts"]]
                continue
            labels = (
                [f"{n} 星" for n in range(1, 6)] if q["kind"] == "stars" else list(q["options"])
            )
            for label, n in zip(labels, q["counts"], strict=True):
                choice_rows.append(
                    [c["canteen"], c["responses"], q["position"], q["text"], label, n]
                )
            if q["kind"] == "stars":
                choice_rows.append(
                    [
                        c["canteen"],
                        c["responses"],
                        q["position"],
                        q["text"],
                        "平均星级",
                        q["average"],
                    ]
                )
    s = r["survey"]
    return xlsx(
        [
            ("选择题", ("食堂", "答卷数", "题号", "题目", "选项", "人数"), choice_rows),
            ("文字意见", ("食堂", "题号", "题目", "意见"), text_rows),
        ],
        f"{s['title']}（{s['starts_on']} 至 {s['ends_on']}），共 {r['responses']} 份答卷。\n"
        "多选题每个选项单独计人数；平均星级为所选星数的平均值。",
    )
