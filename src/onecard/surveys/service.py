"""Online satisfaction surveys' writes (R-S3). What is read back is in ``surveys.queries``.

Contract — each public function is one transaction that checks the actor again; bad
input is refused (``InvalidInput``, 422) before anything is written:
- ``publish(ctx, actor, spec)`` — the bureau publishes for the whole city (no canteens)
  or for chosen canteens; a canteen's manager (or its unit's admin) for the canteens
  they run. Questions, options and texts are bounded (``surveys.models``; 422); the
  period is Beijing dates and may not run backwards, end before today nor span more
  than ``MAX_DAYS`` (``SurveyPeriodRefused``, 409). Audited (``survey_published``).
- ``close(ctx, actor, survey_id)`` — whoever could publish it closes it early, once
  (again: ``StateConflict``). Audited (``survey_closed``).
- ``answer(ctx, actor, survey_id, canteen_id, answers)`` — a diner answers once
  (``AlreadyAnswered``, 409; the unique key on survey and person is the backstop),
  within the period and before it is closed (``SurveyNotOpen``, 409), if in its audience
  (``Forbidden``, 403: not of the unit, or no meal at that canteen in the period), about
  one of its canteens (any canteen for a city-wide survey). ``answers`` maps a question
  id to an option index (single), a list of them (multi), 1–5 (stars) or text. Audited
  (``survey_answered``) without the answers: results are shown without names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from onecard.audit import records as audit
from onecard.core.context import Context
from onecard.core.errors import (
    AlreadyAnswered,
    Forbidden,
    InvalidInput,
    NotFound,
    StateConflict,
    SurveyNotOpen,
    SurveyPeriodRefused,
)
from onecard.org.actors import Actor
from onecard.org.models import Canteen, Person, Unit
from onecard.pay.models import Payment
from onecard.surveys.models import (
    AUDIENCES,
    KINDS,
    MAX_ANSWER_TEXT,
    MAX_DAYS,
    MAX_INTRO,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MAX_QUESTIONS,
    MAX_TITLE,
    Survey,
    SurveyAnswer,
    SurveyCanteen,
    SurveyQuestion,
    SurveyResponse,
)

MAX_CANTEENS = 200


@dataclass(frozen=True)
class QuestionSpec:
    kind: str
    text: str
    options: list[str] = field(default_factory=list)
    required: bool = True


@dataclass(frozen=True)
class SurveySpec:
    title: str
    starts_on: date
    ends_on: date
    questions: list[QuestionSpec]
    intro: str = ""
    audience: str = "all"
    audience_unit_id: int | None = None
    canteen_ids: list[int] = field(default_factory=list)  # none: the whole city (bureau)


def _text(value: str, what: str, limit: int, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"{what}不能为空")
    if len(value) > limit:
        raise InvalidInput(f"{what}最多 {limit} 个字")
    return value


def _question(i: int, q: QuestionSpec) -> QuestionSpec:
    where = f"第 {i} 题"
    if q.kind not in KINDS:
        raise InvalidInput(f"{where}：题型应为单选、多选、星级或文字")
    text = _text(q.text, f"{where}题目", MAX_QUESTION)
    options = [_text(o, f"{where}的选项", MAX_OPTION) for o in q.options]
    if q.kind in ("single", "multi"):
        if not 2 <= len(options) <= MAX_OPTIONS:
            raise InvalidInput(f"{where}：选择题须有 2–{MAX_OPTIONS} 个选项")
        if len(set(options)) != len(options):
            raise InvalidInput(f"{where}：选项不能重复")
    elif options:
        raise InvalidInput(f"{where}：星级题和文字题没有选项")
    return QuestionSpec(q.kind, text, options, bool(q.required))


def _check_spec(ctx: Context, spec: SurveySpec) -> SurveySpec:
    title = _text(spec.title, "问卷标题", MAX_TITLE)
    intro = _text(spec.intro, "问卷说明", MAX_INTRO, required=False)
    if not 1 <= len(spec.questions) <= MAX_QUESTIONS:
        raise InvalidInput(f"问卷须有 1–{MAX_QUESTIONS} 道题")
    questions = [_question(i, q) for i, q in enumerate(spec.questions, start=1)]
    # The period against the calendar: a conflict with today or the rules (409), not a
    # malformed request (any two dates are well formed).
    if spec.starts_on > spec.ends_on:
        raise SurveyPeriodRefused(why="开始日期晚于结束日期", why_en="it starts after it ends")
    if spec.ends_on < ctx.clock.today():
        raise SurveyPeriodRefused(why="结束日期早于今天", why_en="it ends before today")
    if (spec.ends_on - spec.starts_on).days >= MAX_DAYS:
        raise SurveyPeriodRefused(
            why=f"最长 {MAX_DAYS} 天", why_en=f"it is longer than {MAX_DAYS} days"
        )
    if spec.audience not in AUDIENCES:
        raise InvalidInput("填写对象应为全体就餐人员、某单位职工或期间在该食堂就餐的人员")
    if (spec.audience == "unit") != (spec.audience_unit_id is not None):
        raise InvalidInput("面向某单位职工的问卷须选定单位（其他对象不选单位）")
    ids = sorted(set(spec.canteen_ids))
    if len(ids) > MAX_CANTEENS:
        raise InvalidInput(f"一份问卷最多面向 {MAX_CANTEENS} 个食堂")
    return SurveySpec(
        title,
        spec.starts_on,
        spec.ends_on,
        questions,
        intro,
        spec.audience,
        spec.audience_unit_id,
        ids,
    )


def _canteens(conn: Connection, ids: list[int]) -> dict[int, Any]:
    rows = {
        int(r.id): r
        for r in conn.execute(
            select(Canteen.id, Canteen.name, Canteen.unit_id, Canteen.retired_at).where(
                Canteen.id.in_(ids)
            )
        )
    }
    for cid in ids:
        if cid not in rows:
            raise NotFound(what="食堂")
    return rows


def publish(ctx: Context, actor: Actor, spec: SurveySpec) -> int:
    spec = _check_spec(ctx, spec)
    if actor.person_id is None and not actor.is_bureau:
        raise Forbidden()
    if not spec.canteen_ids:
        actor.require_bureau()  # the whole city: the bureau's survey
    with ctx.db.begin() as conn:
        canteens = _canteens(conn, spec.canteen_ids)
        for cid, c in canteens.items():
            actor.require_canteen(cid, int(c.unit_id))
            if c.retired_at is not None:
                raise StateConflict(f"食堂已撤销：{c.name}")
        if spec.audience_unit_id is not None and (
            conn.execute(select(Unit.id).where(Unit.id == spec.audience_unit_id)).first() is None
        ):
            raise NotFound(what="单位")
        sid = int(
            conn.execute(
                insert(Survey)
                .values(
                    title=spec.title,
                    intro=spec.intro,
                    city_wide=not spec.canteen_ids,
                    audience=spec.audience,
                    audience_unit_id=spec.audience_unit_id,
                    starts_on=spec.starts_on,
                    ends_on=spec.ends_on,
                    by_bureau=actor.is_bureau,
                    created_by=actor.label[:120],
                    created_at=ctx.clock.now(),
                )
                .returning(Survey.id)
            ).scalar_one()
        )
        if spec.canteen_ids:
            conn.execute(
                insert(SurveyCanteen),
                [{"survey_id": sid, "canteen_id": cid} for cid in spec.canteen_ids],
            )
        conn.execute(
            insert(SurveyQuestion),
            [
                {
                    "survey_id": sid,
                    "position": i,
                    "kind": q.kind,
                    "text": q.text,
                    "options": json.dumps(q.options, ensure_ascii=False),
                    "required": q.required,
                }
                for i, q in enumerate(spec.questions, start=1)
            ],
        )
        units = {int(c.unit_id) for c in canteens.values()}
        audit.record(
            conn,
            ctx,
            actor,
            "survey_published",
            spec.title[:100],
            {"survey": sid, "questions": len(spec.questions), "canteens": len(canteens)},
            unit_id=units.pop() if len(units) == 1 else None,
            after={
                "title": spec.title,
                "period": [spec.starts_on.isoformat(), spec.ends_on.isoformat()],
                "audience": spec.audience,
                "canteens": spec.canteen_ids,
            },
        )
        return sid


def _survey(conn: Connection, survey_id: int, lock: bool = False) -> Any:
    q = select(Survey).where(Survey.id == survey_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(what="问卷")
    return row


def survey_canteens(conn: Connection, survey_id: int) -> list[int]:
    return sorted(
        int(c)
        for c in conn.execute(
            select(SurveyCanteen.canteen_id).where(SurveyCanteen.survey_id == survey_id)
        ).scalars()
    )


def may_manage(conn: Connection, actor: Actor, survey: Any) -> bool:
    """The bureau; for a canteens' survey, whoever runs every one of its canteens."""
    if actor.is_bureau:
        return True
    if survey.city_wide or survey.by_bureau:
        return False
    ids = survey_canteens(conn, int(survey.id))
    owners = {
        int(k): int(u)
        for k, u in conn.execute(select(Canteen.id, Canteen.unit_id).where(Canteen.id.in_(ids)))
    }
    return bool(ids) and all(actor.manages_canteen(c, owners.get(c)) for c in ids)


def close(ctx: Context, actor: Actor, survey_id: int) -> None:
    with ctx.db.begin() as conn:
        s = _survey(conn, survey_id, lock=True)
        if not may_manage(conn, actor, s):
            raise Forbidden()
        if s.closed_at is not None:
            raise StateConflict("问卷已经结束")
        conn.execute(
            update(Survey)
            .where(Survey.id == survey_id)
            .values(closed_by=actor.label[:120], closed_at=ctx.clock.now())
        )
        audit.record(
            conn,
            ctx,
            actor,
            "survey_closed",
            str(s.title)[:100],
            {"survey": survey_id},
            before={"open": True},
            after={"open": False},
        )


def open_state(survey: Any, today: date) -> str:
    """``open``, ``upcoming``, ``ended`` or ``closed`` (closed early by its publisher)."""
    if survey.closed_at is not None:
        return "closed"
    if today < survey.starts_on:
        return "upcoming"
    if today > survey.ends_on:
        return "ended"
    return "open"


def check_open(survey: Any, today: date) -> None:
    state = open_state(survey, today)
    if state == "open":
        return
    why = {"closed": ("，已提前结束", ", closed early"), "upcoming": ("，尚未开始", ", not yet")}
    zh, en = why.get(state, ("，已结束", ", ended"))
    raise SurveyNotOpen(
        starts=survey.starts_on.isoformat(), ends=survey.ends_on.isoformat(), why=zh, why_en=en
    )


def ate_at(
    conn: Connection, person_id: int, canteen_ids: list[int] | None, start: date, end: date
) -> list[int]:
    """The canteens (of ``canteen_ids``, or any) where the person paid for a meal in
    [start, end] (approved payments; the person-day index)."""
    q = (
        select(Payment.canteen_id)
        .where(
            Payment.person_id == person_id,
            Payment.business_date >= start,
            Payment.business_date <= end,
            Payment.status == "approved",
        )
        .distinct()
    )
    if canteen_ids is not None:
        q = q.where(Payment.canteen_id.in_(canteen_ids))
    return sorted(int(c) for c in conn.execute(q).scalars())


def answerable_canteens(conn: Connection, survey: Any, person_id: int, today: date) -> list[int]:
    """The canteens this person may answer about (empty: not in the audience).
    A city-wide survey names no canteens: any live canteen (or those eaten at)."""
    ids = None if survey.city_wide else survey_canteens(conn, int(survey.id))
    if survey.audience == "unit":
        unit = conn.execute(select(Person.unit_id).where(Person.id == person_id)).scalar()
        if unit != survey.audience_unit_id:
            return []
    if survey.audience == "ate":
        return ate_at(conn, person_id, ids, survey.starts_on, min(survey.ends_on, today))
    if ids is not None:
        return ids
    return sorted(
        int(c)
        for c in conn.execute(select(Canteen.id).where(Canteen.retired_at.is_(None))).scalars()
    )


def _answer_rows(questions: list[Any], answers: dict[int, Any]) -> list[dict[str, Any]]:
    known = {int(q.id): q for q in questions}
    unknown = set(answers) - set(known)
    if unknown:  # an id the request may well form, but not of this survey
        raise NotFound(what=f"本问卷的第 {min(unknown)} 号题")
    rows: list[dict[str, Any]] = []
    for q in questions:
        where = f"第 {q.position} 题"
        value = answers.get(int(q.id))
        if value in (None, "", []):
            if q.required:
                raise InvalidInput(f"{where}为必答题")
            continue
        n = len(json.loads(q.options))
        if q.kind == "text":
            if not isinstance(value, str):
                raise InvalidInput(f"{where}须填写文字")
            text = _text(value, where, MAX_ANSWER_TEXT, required=bool(q.required))
            if text:
                rows.append({"question_id": int(q.id), "text": text})
            continue
        picks = value if q.kind == "multi" else [value]
        if not isinstance(picks, list) or not all(
            type(p) is int for p in picks
        ):  # bool is refused too
            raise InvalidInput(f"{where}的答案须为选项序号")
        lo, hi = (1, 5) if q.kind == "stars" else (0, n - 1)
        if any(not lo <= p <= hi for p in picks) or len(set(picks)) != len(picks):
            raise InvalidInput(
                f"{where}须选 1–5 星" if q.kind == "stars" else f"{where}的选项不存在或重复"
            )
        rows += [{"question_id": int(q.id), "choice": p} for p in picks]
    return rows


def answer(
    ctx: Context, actor: Actor, survey_id: int, canteen_id: int, answers: dict[int, Any]
) -> int:
    if actor.person_id is None:
        raise Forbidden()
    today = ctx.clock.today()
    try:
        with ctx.db.begin() as conn:
            s = _survey(conn, survey_id)
            check_open(s, today)
            done = conn.execute(
                select(SurveyResponse.id).where(
                    SurveyResponse.survey_id == survey_id,
                    SurveyResponse.person_id == actor.person_id,
                )
            ).first()
            if done is not None:
                raise AlreadyAnswered()
            allowed = answerable_canteens(conn, s, actor.person_id, today)
            if not allowed:
                raise Forbidden(_audience_words(s.audience))
            if canteen_id not in allowed:
                raise InvalidInput("请选择本问卷所评价的食堂（期间在该食堂就过餐）")
            questions = list(
                conn.execute(
                    select(SurveyQuestion)
                    .where(SurveyQuestion.survey_id == survey_id)
                    .order_by(SurveyQuestion.position)
                )
            )
            rows = _answer_rows(questions, answers)
            rid = int(
                conn.execute(
                    insert(SurveyResponse)
                    .values(
                        survey_id=survey_id,
                        person_id=actor.person_id,
                        canteen_id=canteen_id,
                        submitted_at=ctx.clock.now(),
                    )
                    .returning(SurveyResponse.id)
                ).scalar_one()
            )
            if rows:
                conn.execute(
                    insert(SurveyAnswer),
                    [{"choice": None, "text": None, **r, "response_id": rid} for r in rows],
                )
            audit.record(
                conn,
                ctx,
                actor,
                "survey_answered",
                str(s.title)[:100],
                {"survey": survey_id, "response": rid},
                person_id=actor.person_id,
            )
            return rid
    except IntegrityError:  # two submits racing: the unique key decided
        raise AlreadyAnswered() from None


def _audience_words(audience: str) -> str:
    if audience == "unit":
        return "本问卷只面向指定单位的职工"
    if audience == "ate":
        return "本问卷只面向填写期内在该食堂就过餐的人员"
    return "您不在本问卷的填写范围内"
