"""Waste supervision (R-R4, R-S5, issue 16 §4).

Why: supervisors' inspections, canteens' daily leftover weights, diners' clean-plate
check-ins and the bureau's waste notices, each in a new table; a new unit role
``waste_supervisor`` (反浪费监督员). New tables and one role row: nothing existing moves.

Revision ID: 0017
Revises: 0021
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0021"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MAX_GRAMS = 2_000_000


def upgrade() -> None:
    op.create_table(
        "waste_inspections",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=False),
        sa.Column("leftover_grams", sa.BigInteger(), nullable=False),
        sa.Column("findings", sa.String(length=1000), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_type", sa.String(length=20), nullable=True),
        sa.Column("inspector_id", BIG_ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            f"leftover_grams BETWEEN 0 AND {MAX_GRAMS}", name=op.f("ck_waste_inspections_grams")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_waste_inspections_canteen_id_canteens")
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["people.id"], name=op.f("fk_waste_inspections_inspector_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waste_inspections")),
    )
    op.create_index(op.f("ix_waste_inspections_canteen_id"), "waste_inspections", ["canteen_id"])
    op.create_table(
        "waste_weights",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=False),
        sa.Column("leftover_grams", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            f"leftover_grams BETWEEN 0 AND {MAX_GRAMS}", name=op.f("ck_waste_weights_grams")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_waste_weights_canteen_id_canteens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waste_weights")),
        sa.UniqueConstraint(
            "canteen_id", "day", "meal", name=op.f("uq_waste_weights_canteen_id_day_meal")
        ),
    )
    op.create_table(
        "clean_plates",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("person_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=False),
        sa.Column("photo_type", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_clean_plates_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clean_plates")),
        sa.UniqueConstraint(
            "person_id", "day", "meal", name=op.f("uq_clean_plates_person_id_day_meal")
        ),
    )
    op.create_table(
        "waste_notices",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("issued_by", sa.String(length=120), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_waste_notices_canteen_id_canteens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waste_notices")),
    )
    op.create_index("ix_waste_notices_canteen", "waste_notices", ["canteen_id", "issued_at"])
    roles = sa.table(
        "roles",
        sa.column("code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
        sa.column("read_only", sa.Boolean),
        sa.column("needs_second_factor", sa.Boolean),
    )
    # Only a seeded database (roles present) gets the row now; an empty one gets every
    # role, this one included, when it is seeded (org.builders.seed_roles).
    have = op.get_bind().execute(sa.select(sa.func.count()).select_from(roles)).scalar()
    if have:
        op.bulk_insert(
            roles,
            [
                {
                    "code": "waste_supervisor",
                    "name_zh": "反浪费监督员",
                    "name_en": "Anti-waste supervisor",
                    "read_only": False,
                    "needs_second_factor": False,
                }
            ],
        )


def downgrade() -> None:
    op.execute("DELETE FROM role_grants WHERE role_code = 'waste_supervisor'")
    op.execute("DELETE FROM roles WHERE code = 'waste_supervisor'")
    op.drop_index("ix_waste_notices_canteen", table_name="waste_notices")
    op.drop_table("waste_notices")
    op.drop_table("clean_plates")
    op.drop_table("waste_weights")
    op.drop_index(op.f("ix_waste_inspections_canteen_id"), table_name="waste_inspections")
    op.drop_table("waste_inspections")
