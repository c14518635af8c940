"""Community canteens for residents (社区食堂, issue 17 §4).

Why: residents (not staff of any unit) register with their categories and a wallet and
eat at community canteens under the civil affairs bureau's versioned rules; each meal's
subsidy is claimed monthly and canteens are rated yearly. New tables only: nothing
existing moves (the ledger accounts they use are rows of ``accounts``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "community_canteens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("rating", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "rating IS NULL OR rating IN ('A','AA','AAA')",
            name=op.f("ck_community_canteens_rating"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_canteens")),
        sa.UniqueConstraint("code", name=op.f("uq_community_canteens_code")),
    )
    op.create_table(
        "community_rules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_rules")),
        sa.UniqueConstraint("version", name=op.f("uq_community_rules_version")),
    )
    op.create_table(
        "residents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.UniqueConstraint("id_number", name=op.f("uq_residents_id_number")),
    )
    op.create_table(
        "community_claims",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("approved_fen", sa.BigInteger(), nullable=False),
        sa.Column("rejected_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open','approved')", name=op.f("ck_community_claims_status")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"],
            ["community_canteens.id"],
            name=op.f("fk_community_claims_canteen_id_community_canteens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_claims")),
        sa.UniqueConstraint(
            "canteen_id", "month", name=op.f("uq_community_claims_canteen_id_month")
        ),
    )
    op.create_table(
        "community_dishes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("love", sa.Boolean(), nullable=False),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_community_dishes_positive")),
        sa.ForeignKeyConstraint(
            ["canteen_id"],
            ["community_canteens.id"],
            name=op.f("fk_community_dishes_canteen_id_community_canteens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_dishes")),
        sa.UniqueConstraint("canteen_id", "name", name=op.f("uq_community_dishes_canteen_id_name")),
    )
    with op.batch_alter_table("community_dishes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_dishes_canteen_id"), ["canteen_id"], unique=False
        )

    op.create_table(
        "community_ratings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("frequency_points", sa.Integer(), nullable=False),
        sa.Column("satisfaction_points", sa.Integer(), nullable=False),
        sa.Column("special_points", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=3), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("rated_by", sa.String(length=100), nullable=False),
        sa.Column("rated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["canteen_id"],
            ["community_canteens.id"],
            name=op.f("fk_community_ratings_canteen_id_community_canteens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_ratings")),
        sa.UniqueConstraint(
            "canteen_id", "year", name=op.f("uq_community_ratings_canteen_id_year")
        ),
    )
    op.create_table(
        "resident_categories",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("proof", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_resident_categories_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_categories")),
        sa.UniqueConstraint(
            "resident_id", "category", name=op.f("uq_resident_categories_resident_id_category")
        ),
    )
    with op.batch_alter_table("resident_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resident_categories_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "community_meals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("dish_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("txn_id", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("allowance_fen", sa.BigInteger(), nullable=False),
        sa.Column("wallet_fen", sa.BigInteger(), nullable=False),
        sa.Column("delivery_fen", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("love", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("age", sa.Integer(), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("meal_day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=10), nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "price_fen = subsidy_fen + wallet_fen", name=op.f("ck_community_meals_parts")
        ),
        sa.CheckConstraint(
            "subsidy_fen >= 0 AND wallet_fen >= 0 AND delivery_fen >= 0 AND allowance_fen >= 0 AND allowance_fen <= subsidy_fen",
            name=op.f("ck_community_meals_nonneg"),
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"],
            ["community_canteens.id"],
            name=op.f("fk_community_meals_canteen_id_community_canteens"),
        ),
        sa.ForeignKeyConstraint(
            ["dish_id"],
            ["community_dishes.id"],
            name=op.f("fk_community_meals_dish_id_community_dishes"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_community_meals_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_meals")),
        sa.UniqueConstraint(
            "canteen_id", "txn_id", name=op.f("uq_community_meals_canteen_id_txn_id")
        ),
    )
    with op.batch_alter_table("community_meals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_community_meals_canteen_day", ["canteen_id", "meal_day"], unique=False
        )
        batch_op.create_index(
            "ix_community_meals_resident_day", ["resident_id", "meal_day"], unique=False
        )

    op.create_table(
        "community_claim_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("meal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "status <> 'rejected' OR reason <> ''", name=op.f("ck_community_claim_lines_reason")
        ),
        sa.CheckConstraint(
            "status IN ('pending','approved','rejected')",
            name=op.f("ck_community_claim_lines_status"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["community_claims.id"],
            name=op.f("fk_community_claim_lines_claim_id_community_claims"),
        ),
        sa.ForeignKeyConstraint(
            ["meal_id"],
            ["community_meals.id"],
            name=op.f("fk_community_claim_lines_meal_id_community_meals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_claim_lines")),
        sa.UniqueConstraint("meal_id", name=op.f("uq_community_claim_lines_meal_id")),
    )
    with op.batch_alter_table("community_claim_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_claim_lines_claim_id"), ["claim_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("community_claim_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_claim_lines_claim_id"))

    op.drop_table("community_claim_lines")
    with op.batch_alter_table("community_meals", schema=None) as batch_op:
        batch_op.drop_index("ix_community_meals_resident_day")
        batch_op.drop_index("ix_community_meals_canteen_day")

    op.drop_table("community_meals")
    with op.batch_alter_table("resident_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resident_categories_resident_id"))

    op.drop_table("resident_categories")
    op.drop_table("community_ratings")
    with op.batch_alter_table("community_dishes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_dishes_canteen_id"))

    op.drop_table("community_dishes")
    op.drop_table("community_claims")
    op.drop_table("residents")
    op.drop_table("community_rules")
    op.drop_table("community_canteens")
