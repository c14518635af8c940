"""API types of the satisfaction surveys (/api/v1/surveys, /api/v1/me/surveys).

Every size is bounded here as in ``surveys.models`` (the service checks again): at most
20 questions, 10 options of 60 characters, a 500-character text answer. An answer's
``value`` is an option index (single choice), a list of them (multiple choice), 1–5
(stars) or text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from onecard.surveys.models import (
    MAX_ANSWER_TEXT,
    MAX_INTRO,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_QUESTION,
    MAX_QUESTIONS,
    MAX_TITLE,
)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# Times are kept naive UTC; the API says so in every answer ("…Z").
UtcTime = Annotated[datetime, AfterValidator(_utc)]
# Ids in a body: at most 2**53, what a JSON number carries exactly (a client in
# JavaScript; a larger one would reach us rounded, as a float).
Id = Annotated[int, Field(ge=1, le=2**53)]
Pick = Annotated[int, Field(ge=0, le=9)]
# Text a person must write: something other than spaces (what the service strips: the
# models below match patterns with Python's ``re``, whose \s is ``str.isspace``).
# No NUL anywhere (PostgreSQL's text cannot hold it; ``web.nul_guard`` refuses it).
Words = r"^[^\x00]*[^\s\x00][^\x00]*$"
Text = r"^[^\x00]*$"
PY_RE = ConfigDict(regex_engine="python-re", extra="forbid")  # no field the schema lacks
Option = Annotated[str, Field(min_length=1, max_length=MAX_OPTION, pattern=Words)]


class ChoiceQuestionIn(BaseModel):
    model_config = PY_RE
    kind: Literal["single", "multi"]
    text: str = Field(min_length=1, max_length=MAX_QUESTION, pattern=Words)
    options: list[Option] = Field(
        min_length=2, max_length=MAX_OPTIONS, json_schema_extra={"uniqueItems": True}
    )
    required: bool = True


class PlainQuestionIn(BaseModel):
    model_config = PY_RE
    kind: Literal["stars", "text"]
    text: str = Field(min_length=1, max_length=MAX_QUESTION, pattern=Words)
    required: bool = True


class EveryoneIn(BaseModel):
    model_config = PY_RE
    kind: Literal["all"] = Field(description="every diner")


class UnitStaffIn(BaseModel):
    model_config = PY_RE
    kind: Literal["unit"] = Field(description="the staff of one unit (the bureau)")
    unit_id: Id


class AteThereIn(BaseModel):
    model_config = PY_RE
    kind: Literal["ate"] = Field(description="who paid for a meal at its canteens in the period")


class SurveyIn(BaseModel):
    model_config = PY_RE
    title: str = Field(min_length=1, max_length=MAX_TITLE, pattern=Words)
    intro: str = Field("", max_length=MAX_INTRO, pattern=Text)
    starts_on: date
    ends_on: date = Field(description="inclusive; not before today, at most 92 days on")
    audience: Annotated[EveryoneIn | UnitStaffIn | AteThereIn, Field(discriminator="kind")] = (
        EveryoneIn(kind="all")
    )
    canteen_ids: list[Id] = Field(
        default_factory=list, max_length=200, description="none: the whole city (the bureau)"
    )
    questions: list[Annotated[ChoiceQuestionIn | PlainQuestionIn, Field(discriminator="kind")]] = (
        Field(min_length=1, max_length=MAX_QUESTIONS)
    )


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
    created_at: UtcTime
    closed_at: UtcTime | None


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
    model_config = PY_RE
    question_id: Id
    value: (
        Pick
        | Annotated[list[Pick], Field(max_length=MAX_OPTIONS)]
        | Annotated[str, Field(max_length=MAX_ANSWER_TEXT, pattern=Text)]
    )


class ResponseIn(BaseModel):
    model_config = PY_RE
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
