"""Online satisfaction surveys (R-S3, issue 16 §6) and the per-capita roll-up (§8).

Why: surveys, their canteens, questions, responses and answers, each a new table; and
``report_meals`` (per quarter × canteen × meal × diner class) and ``report_meal_days``
(per business day × canteen × meal), the dashboard roll-ups the per-capita report reads.
The roll-ups are derived data: the existing ones are emptied with their watermarks so
the next ``reports.service.catch_up`` folds every payment into all of them alike.

Revision ID: 0023
Revises: 0024
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0024"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROLLUPS = (
    "report_days",
    "report_slots",
    "report_canteens",
    "report_units",
    "report_pairs",
    "report_diners",
    "report_funds",
    "report_watermarks",
)


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("intro", sa.String(length=500), nullable=False),
        sa.Column("city_wide", sa.Boolean(), nullable=False),
        sa.Column("audience", sa.String(length=10), nullable=False),
        sa.Column("audience_unit_id", BIG_ID, nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("by_bureau", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=120), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("starts_on <= ends_on", name=op.f("ck_surveys_period")),
        sa.CheckConstraint("audience IN ('all','unit','ate')", name=op.f("ck_surveys_audience")),
        sa.CheckConstraint(
            "(audience = 'unit') = (audience_unit_id IS NOT NULL)",
            name=op.f("ck_surveys_audience_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["audience_unit_id"], ["units.id"], name=op.f("fk_surveys_audience_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    op.create_table(
        "survey_canteens",
        sa.Column("survey_id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_survey_canteens_canteen_id_canteens")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_canteens_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("survey_id", "canteen_id", name=op.f("pk_survey_canteens")),
    )
    op.create_table(
        "survey_questions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("survey_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("options", sa.String(length=1000), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('single','multi','stars','text')", name=op.f("ck_survey_questions_kind")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_questions_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_questions")),
        sa.UniqueConstraint(
            "survey_id", "position", name=op.f("uq_survey_questions_survey_id_position")
        ),
    )
    op.create_index(op.f("ix_survey_questions_survey_id"), "survey_questions", ["survey_id"])
    op.create_table(
        "survey_responses",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("survey_id", BIG_ID, nullable=False),
        sa.Column("person_id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_survey_responses_canteen_id_canteens")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_survey_responses_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_responses_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.UniqueConstraint(
            "survey_id", "person_id", name=op.f("uq_survey_responses_survey_id_person_id")
        ),
    )
    op.create_table(
        "survey_answers",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("response_id", BIG_ID, nullable=False),
        sa.Column("question_id", BIG_ID, nullable=False),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "choice IS NULL OR (choice >= 0 AND choice < 10)",
            name=op.f("ck_survey_answers_choice"),
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["survey_questions.id"],
            name=op.f("fk_survey_answers_question_id_survey_questions"),
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["survey_responses.id"],
            name=op.f("fk_survey_answers_response_id_survey_responses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
    )
    op.create_index(op.f("ix_survey_answers_response_id"), "survey_answers", ["response_id"])
    op.create_index(op.f("ix_survey_answers_question_id"), "survey_answers", ["question_id"])
    # --- the per-capita roll-ups (reports.models) ---------------------------------------
    op.create_table(
        "report_meals",
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("canteen_id", sa.BigInteger(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=False),
        sa.Column("diner_class", sa.String(length=10), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "quarter", "canteen_id", "meal", "diner_class", name=op.f("pk_report_meals")
        ),
    )
    op.create_table(
        "report_meal_days",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("canteen_id", sa.BigInteger(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "business_date", "canteen_id", "meal", name=op.f("pk_report_meal_days")
        ),
    )
    for table in ROLLUPS:  # derived data: the next catch_up folds everything again
        op.execute(sa.text(f"DELETE FROM {table}"))


def downgrade() -> None:
    op.drop_table("report_meal_days")
    op.drop_table("report_meals")
    op.drop_index(op.f("ix_survey_answers_question_id"), table_name="survey_answers")
    op.drop_index(op.f("ix_survey_answers_response_id"), table_name="survey_answers")
    op.drop_table("survey_answers")
    op.drop_table("survey_responses")
    op.drop_index(op.f("ix_survey_questions_survey_id"), table_name="survey_questions")
    op.drop_table("survey_questions")
    op.drop_table("survey_canteens")
    op.drop_table("surveys")
    for table in ROLLUPS:
        op.execute(sa.text(f"DELETE FROM {table}"))
