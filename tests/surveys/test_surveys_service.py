"""Satisfaction surveys as stories: the bureau asks the city, a canteen asks its diners;
a diner answers once, inside the period, about a canteen; bad surveys and bad answers
change nothing; results count per canteen; publishing and closing are audited."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from onecard.audit.records import records
from onecard.core.clock import FixedClock
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
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.pay.service import PaymentRequest, pay
from onecard.surveys import queries, service
from onecard.surveys.models import Survey, SurveyAnswer, SurveyResponse
from onecard.surveys.service import QuestionSpec, SurveySpec
from world import World, build_world, fund

TODAY = date(2026, 3, 10)  # the fixture's clock
SYSTEM = Actor.system("test")


def actor(ctx: Context, w: World, key: str) -> Actor:
    with ctx.db.read() as conn:
        return Actor.load(conn, w.people[key], f"S{key}", w.units[key[0].upper()])


def questions() -> list[QuestionSpec]:
    return [
        QuestionSpec("stars", "总体满意度"),
        QuestionSpec("single", "饭菜口味", ["偏咸", "适中", "偏淡"]),
        QuestionSpec("multi", "希望增加", ["面食", "粗粮", "水果"], required=False),
        QuestionSpec("text", "意见建议", required=False),
    ]


def spec(**kw: Any) -> SurveySpec:
    base: dict[str, Any] = {
        "title": "一季度食堂满意度",
        "starts_on": TODAY - timedelta(days=3),
        "ends_on": TODAY + timedelta(days=10),
        "questions": questions(),
    }
    return SurveySpec(**(base | kw))


def count(ctx: Context, table: type) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def ids(ctx: Context, survey_id: int) -> list[int]:
    return [q["id"] for q in queries.detail(ctx, survey_id, TODAY)["questions"]]


def test_the_bureau_asks_the_city_and_diners_answer_once(ctx: Context) -> None:
    w = build_world(ctx)
    sid = service.publish(ctx, SYSTEM, spec())
    q = ids(ctx, sid)
    a1, b1 = actor(ctx, w, "a1"), actor(ctx, w, "b1")
    mine = queries.open_for(ctx, w.people["a1"], TODAY)
    assert [s["id"] for s in mine] == [sid] and not mine[0]["answered"]
    assert {c["id"] for c in mine[0]["answerable"]} == {w.canteens["A"], w.canteens["B"]}
    service.answer(ctx, a1, sid, w.canteens["A"], {q[0]: 5, q[1]: 1, q[2]: [0, 2], q[3]: "好吃"})
    service.answer(ctx, b1, sid, w.canteens["B"], {q[0]: 3, q[1]: 0})
    with pytest.raises(AlreadyAnswered):
        service.answer(ctx, a1, sid, w.canteens["B"], {q[0]: 1, q[1]: 1})
    assert count(ctx, SurveyResponse) == 2 and count(ctx, SurveyAnswer) == 7
    assert queries.open_for(ctx, w.people["a1"], TODAY)[0]["answered"]
    r = queries.results(ctx, sid)
    assert r["responses"] == 2
    stars, taste, more, text = r["all"]
    assert stars["counts"] == [0, 0, 1, 0, 1] and stars["average"] == 4.0
    assert taste["counts"] == [1, 1, 0] and more["counts"] == [1, 0, 1]
    assert text["texts"] == ["好吃"]
    per = {c["canteen_id"]: c for c in r["canteens"]}
    assert per[w.canteens["B"]]["questions"][0]["counts"] == [0, 0, 1, 0, 0]
    assert per[w.canteens["A"]]["questions"][3]["texts"] == ["好吃"]
    book = load_workbook(__import__("io").BytesIO(queries.results_xlsx(ctx, sid)))
    assert [r[3] for r in book["文字意见"].iter_rows(min_row=2, values_only=True)] == ["好吃"]
    assert [r.get("action") for r in records(ctx, "survey_published")] == ["survey_published"]
    assert len(records(ctx, "survey_answered")) == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"title": " "},
        {"title": "长" * 101},
        {"questions": []},
        {"questions": [QuestionSpec("stars", "x")] * 21},
        {"questions": [QuestionSpec("single", "只一个选项", ["是"])]},
        {"questions": [QuestionSpec("single", "重复", ["是", "是"])]},
        {"questions": [QuestionSpec("single", "过多", [str(i) for i in range(11)])]},
        {"questions": [QuestionSpec("stars", "星级无选项", ["a", "b"])]},
        {"questions": [QuestionSpec("essay", "题型")]},
        {"questions": [QuestionSpec("text", "")]},
        {"questions": [QuestionSpec("single", "长选项", ["a", "b" * 61])]},
        {"audience": "everyone"},
        {"audience": "unit"},
        {"audience": "all", "audience_unit_id": 1},
    ],
)
def test_a_bad_survey_writes_nothing(ctx: Context, bad: dict[str, Any]) -> None:
    build_world(ctx)
    with pytest.raises(InvalidInput):
        service.publish(ctx, SYSTEM, spec(**bad))
    assert count(ctx, Survey) == 0


@pytest.mark.parametrize(
    "period",
    [
        {"starts_on": TODAY + timedelta(days=5), "ends_on": TODAY + timedelta(days=1)},
        {"starts_on": TODAY - timedelta(days=9), "ends_on": TODAY - timedelta(days=1)},
        {"ends_on": TODAY + timedelta(days=200)},
    ],
)
def test_a_period_that_cannot_be_used_writes_nothing(ctx: Context, period: dict[str, Any]) -> None:
    build_world(ctx)
    with pytest.raises(SurveyPeriodRefused):
        service.publish(ctx, SYSTEM, spec(**period))
    assert count(ctx, Survey) == 0


def test_a_canteen_asks_its_own_diners_only(ctx: Context) -> None:
    w = build_world(ctx)
    with ctx.db.begin() as conn:
        b.grant_role(conn, w.people["a2"], "canteen_manager", canteen_id=w.canteens["A"])
    manager = actor(ctx, w, "a2")
    with pytest.raises(Forbidden):  # the whole city is the bureau's
        service.publish(ctx, manager, spec())
    with pytest.raises(Forbidden):  # another unit's canteen
        service.publish(ctx, manager, spec(canteen_ids=[w.canteens["B"]]))
    with pytest.raises(NotFound):
        service.publish(ctx, SYSTEM, spec(canteen_ids=[10**9]))
    sid = service.publish(ctx, manager, spec(canteen_ids=[w.canteens["A"]], audience="ate"))
    q = ids(ctx, sid)
    a1, b1 = actor(ctx, w, "a1"), actor(ctx, w, "b1")
    # Nobody ate there yet: nobody may answer.
    assert queries.open_for(ctx, w.people["b1"], TODAY) == []
    with pytest.raises(Forbidden):
        service.answer(ctx, b1, sid, w.canteens["A"], {q[0]: 4, q[1]: 1})
    fund(ctx, w, "b1", subsidy=5000)
    pay(ctx, w.terminals["A"], PaymentRequest("sv-1", w.cards["b1"], meal="lunch"))
    with pytest.raises(InvalidInput):  # not a canteen of this survey
        service.answer(ctx, b1, sid, w.canteens["B"], {q[0]: 4, q[1]: 1})
    service.answer(ctx, b1, sid, w.canteens["A"], {q[0]: 4, q[1]: 1})
    assert queries.open_for(ctx, w.people["a1"], TODAY) == []
    with pytest.raises(Forbidden):
        service.answer(ctx, a1, sid, w.canteens["A"], {q[0]: 4, q[1]: 1})
    # Who sees the results: the manager of A (A only), the city; not B's people.
    assert queries.visible_canteens(ctx, manager, sid) == {w.canteens["A"]}
    assert queries.visible_canteens(ctx, SYSTEM, sid) is None
    with pytest.raises(Forbidden):
        queries.visible_canteens(ctx, b1, sid)
    with pytest.raises(Forbidden):
        service.close(ctx, a1, sid)
    service.close(ctx, manager, sid)
    with pytest.raises(StateConflict):
        service.close(ctx, manager, sid)
    assert len(records(ctx, "survey_closed")) == 1


def test_a_unit_survey_asks_that_unit(ctx: Context) -> None:
    w = build_world(ctx)
    sid = service.publish(ctx, SYSTEM, spec(audience="unit", audience_unit_id=w.units["B"]))
    q = ids(ctx, sid)
    with pytest.raises(Forbidden):
        service.answer(ctx, actor(ctx, w, "a1"), sid, w.canteens["A"], {q[0]: 4, q[1]: 1})
    service.answer(ctx, actor(ctx, w, "b1"), sid, w.canteens["A"], {q[0]: 4, q[1]: 1})


@pytest.mark.parametrize(
    "answers",
    [
        {0: 6, 1: 1},  # six stars
        {0: 0, 1: 1},
        {0: 4},  # a required question left out
        {0: 4, 1: 3},  # no such option
        {0: 4, 1: [0, 1]},  # two picks in a single choice
        {0: 4, 1: 1, 2: [0, 0]},  # the same option twice
        {0: 4, 1: 1, 3: "长" * 501},
        {0: 4, 1: 1, 3: 5},
        {0: True, 1: 1},
        {0: "4", 1: 1},
    ],
)
def test_a_bad_answer_writes_nothing(ctx: Context, answers: dict[int, Any]) -> None:
    w = build_world(ctx)
    sid = service.publish(ctx, SYSTEM, spec())
    q = ids(ctx, sid)
    with pytest.raises(InvalidInput):
        service.answer(
            ctx, actor(ctx, w, "a1"), sid, w.canteens["A"], {q[k]: v for k, v in answers.items()}
        )
    with pytest.raises(NotFound):  # a question of another survey
        service.answer(ctx, actor(ctx, w, "a1"), sid, w.canteens["A"], {10**6: 1})
    assert count(ctx, SurveyResponse) == 0 and count(ctx, SurveyAnswer) == 0


def test_outside_the_period_or_closed_is_refused(ctx: Context) -> None:
    w = build_world(ctx)
    later = service.publish(
        ctx, SYSTEM, spec(starts_on=TODAY + timedelta(days=1), ends_on=TODAY + timedelta(days=5))
    )
    now = service.publish(ctx, SYSTEM, spec())
    a1 = actor(ctx, w, "a1")
    with pytest.raises(SurveyNotOpen) as got:
        service.answer(ctx, a1, later, w.canteens["A"], {})
    assert "尚未开始" in got.value.message()
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.advance(days=11)
    with pytest.raises(SurveyNotOpen) as got:
        service.answer(ctx, a1, now, w.canteens["A"], {})
    assert "已结束" in got.value.message() and "ended" in got.value.message("en")
    ctx.clock.advance(days=-11)
    service.close(ctx, SYSTEM, now)
    with pytest.raises(SurveyNotOpen):
        service.answer(ctx, a1, now, w.canteens["A"], {})
    assert count(ctx, SurveyResponse) == 0
    with pytest.raises(NotFound):
        service.answer(ctx, a1, 10**9, w.canteens["A"], {})
