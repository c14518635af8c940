"""Face pay: consents, encrypted face templates, terminals with liveness detection.

Why: face pay (R-F3) identifies a diner by a 128-d face descriptor. Face data is
sensitive personal information: a template exists only while the person's recorded
consent is open (``face_consents`` keeps the proof, never a face), is encrypted at rest
(``face_templates.sealed``: AES-256-GCM), and is deleted when consent is withdrawn or at
the year end after the person left. ``face_terminals`` says which terminals run liveness
detection: no row, no face pay.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "face_consents",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("notice", sa.String(length=20), nullable=False),
        sa.Column("given_via", sa.String(length=10), nullable=False),
        sa.Column("given_by", sa.String(length=60), nullable=False),
        sa.Column("given_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", sa.String(length=60), nullable=True),
        sa.Column("ended_why", sa.String(length=10), nullable=True),
        sa.CheckConstraint(
            "given_via IN ('self','admin')", name=op.f("ck_face_consents_given_via")
        ),
        sa.CheckConstraint(
            "ended_why IS NULL OR ended_why IN ('withdrawn','left')",
            name=op.f("ck_face_consents_ended_why"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_face_consents_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_consents")),
    )
    op.create_index(
        op.f("ix_face_consents_person_id"), "face_consents", ["person_id"], unique=False
    )
    op.create_table(
        "face_templates",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("consent_id", BigId, nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("enrolled_by", sa.String(length=60), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["face_consents.id"],
            name=op.f("fk_face_templates_consent_id_face_consents"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_face_templates_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_templates")),
        sa.UniqueConstraint("person_id", name=op.f("uq_face_templates_person_id")),
    )
    op.create_index(
        op.f("ix_face_templates_region_id"), "face_templates", ["region_id"], unique=False
    )
    op.create_table(
        "face_terminals",
        sa.Column("terminal_id", BigId, nullable=False),
        sa.Column("liveness", sa.Boolean(), nullable=False),
        sa.Column("set_by", sa.String(length=60), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_face_terminals_terminal_id_terminals")
        ),
        sa.PrimaryKeyConstraint("terminal_id", name=op.f("pk_face_terminals")),
    )


def downgrade() -> None:
    op.drop_table("face_terminals")
    op.drop_index(op.f("ix_face_templates_region_id"), table_name="face_templates")
    op.drop_table("face_templates")
    op.drop_index(op.f("ix_face_consents_person_id"), table_name="face_consents")
    op.drop_table("face_consents")
