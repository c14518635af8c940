"""API types of the satisfaction surveys (/api/v1/surveys, /api/v1/me/surveys).

Every size is bounded here as in ``surveys.models`` (the service checks again): at most
20 questions, 10 options of 60 characters, a 500-character text answer. An answer's
``value`` is an option index (single choice), a list of them (multiple choice), 1–5
(stars) or text.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from onecard.surveys.models import (
    MAX_ANSWER_TEXT,
    MAX_INTRO,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MAX_QUESTIONS,
    MAX_TITLE,
)

Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Pick = Annotated[int, Field(ge=0, le=9)]


class QuestionIn(BaseModel):
    kind: Literal["single", "multi", "stars", "text"]
    text: str = Field(max_length=MAX_QUESTION)
    options: list[Annotated[str, Field(max_length=MAX_OPTION)]] = Field(
        default_factory=list, max_length=MAX_OPTIONS
    )
    required: bool = True


class SurveyIn(BaseModel):
    title: str = Field(max_length=MAX_TITLE)
    intro: str = Field("", max_length=MAX_INTRO)
    starts_on: date
    ends_on: date
    audience: Literal["all", "unit", "ate"] = "all"
    audience_unit_id: Id | None = None
    canteen_ids: list[Id] = Field(
        default_factory=list, max_length=200, description="none: the whole city (the bureau)"
    )
    questions: list[QuestionIn] = Field(min_length=1, max_length=MAX_QUESTIONS)


class SurveyOut(BaseModel):
    id: int
    title: str
    intro: str
    city_wide: bool
    by_bureau: bool
    audience: str
    audience_unit_id: int | None
    audience_unit: str | None
    starts_on: date
    ends_on: date
    state: str = Field(description="open, upcoming, ended or closed (closed early)")
    canteen_ids: list[int]
    canteens: list[str]
    responses: int
    created_at: datetime
    closed_at: datetime | None


class QuestionOut(BaseModel):
    id: int
    position: int
    kind: str
    text: str
    options: list[str]
    required: bool


class CanteenChoice(BaseModel):
    id: int
    name: str


class MySurveyOut(SurveyOut):
    answerable: list[CanteenChoice]
    answered: bool


class MySurveyDetailOut(MySurveyOut):
    questions: list[QuestionOut]


class SurveyDetailOut(SurveyOut):
    questions: list[QuestionOut]


class AnswerItem(BaseModel):
    question_id: Id
    value: (
        Pick
        | Annotated[list[Pick], Field(max_length=MAX_OPTIONS)]
        | Annotated[str, Field(max_length=MAX_ANSWER_TEXT)]
    )


class ResponseIn(BaseModel):
    canteen_id: Id
    answers: list[AnswerItem] = Field(max_length=MAX_QUESTIONS)


class ResponseOut(BaseModel):
    response_id: int
    survey_id: int
    canteen_id: int


class QuestionResultOut(QuestionOut):
    answered: int
    counts: list[int] | None = None
    average: float | None = None
    texts: list[str] | None = None


class CanteenResultOut(BaseModel):
    canteen_id: int
    canteen: str
    responses: int
    questions: list[QuestionResultOut]


class ResultsOut(BaseModel):
    survey: SurveyOut
    responses: int
    all: list[QuestionResultOut]
    canteens: list[CanteenResultOut]
