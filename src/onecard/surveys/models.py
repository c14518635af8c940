"""Online satisfaction surveys (R-S3): the bureau or a canteen publishes, diners answer.

Contract: a survey has a title, a period of Beijing dates (``starts_on`` ≤ day ≤
``ends_on``, both inclusive), an audience (``all`` diners, the diners of one ``unit``,
or the diners who ``ate`` at one of its canteens in the period) and a scope: the whole
city (``city``, the bureau only) or the canteens listed in ``survey_canteens``. It is
open in its period until someone closes it (``closed_at``). Its questions are fixed when
it is published: ``single`` / ``multi`` choice (options as a JSON list of text),
``stars`` (1–5) or free ``text``. A diner answers once (``survey_responses`` unique on
survey and person), about one canteen; each answer is one row per chosen option, star
count or text. Rows are only added, except a survey's closing (set once).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onecard.core.db import Base, BigId

KINDS = ("single", "multi", "stars", "text")
AUDIENCES = ("all", "unit", "ate")
MAX_QUESTIONS = 20
MAX_OPTIONS = 10
MAX_TITLE = 100
MAX_INTRO = 500
MAX_QUESTION = 200
MAX_OPTION = 60
MAX_ANSWER_TEXT = 500
MAX_DAYS = 92  # a quarter: a survey open longer says little about any moment


class Survey(Base):
    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    intro: Mapped[str] = mapped_column(String(MAX_INTRO), default="")
    city_wide: Mapped[bool] = mapped_column(default=False)
    audience: Mapped[str] = mapped_column(String(10))
    audience_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    by_bureau: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(120))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("starts_on <= ends_on", name="period"),
        CheckConstraint("audience IN ('all','unit','ate')", name="audience"),
        CheckConstraint(
            "(audience = 'unit') = (audience_unit_id IS NOT NULL)", name="audience_unit"
        ),
    )


class SurveyCanteen(Base):
    __tablename__ = "survey_canteens"
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), primary_key=True)
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"), primary_key=True)


class SurveyQuestion(Base):
    __tablename__ = "survey_questions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(String(MAX_QUESTION))
    options: Mapped[str] = mapped_column(String(1000), default="[]")  # JSON list of text
    required: Mapped[bool] = mapped_column(default=True)
    __table_args__ = (
        UniqueConstraint("survey_id", "position"),
        CheckConstraint("kind IN ('single','multi','stars','text')", name="kind"),
    )


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    canteen_id: Mapped[int] = mapped_column(ForeignKey("canteens.id"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (UniqueConstraint("survey_id", "person_id"),)


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id"), index=True)
    choice: Mapped[int | None] = mapped_column(Integer)  # option index, or 1–5 stars
    text: Mapped[str | None] = mapped_column(String(MAX_ANSWER_TEXT))
    __table_args__ = (
        CheckConstraint("choice IS NULL OR (choice >= 0 AND choice < 10)", name="choice"),
    )
