"""Item lines of payments, and dish ratings (issue 16 §3, R-S1).

Why: a payment priced from item lines kept only its total; the lines (item, qty, unit
price, line total) are now stored with it (``payment_lines``), so a diner can rate the
dishes of a meal (``dish_ratings``: 1–5 stars and a comment, once per dish per payment)
and see the week's nutrition. Two new tables: nothing existing moves; payments made
before this revision simply have no lines.

Revision ID: 0025
Revises: 0019
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0019"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_lines",
        sa.Column("payment_id", BIG_ID, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("line_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("qty BETWEEN 1 AND 999", name=op.f("ck_payment_lines_qty")),
        sa.CheckConstraint("unit_price_fen > 0", name=op.f("ck_payment_lines_price_positive")),
        sa.CheckConstraint(
            "line_fen = qty * unit_price_fen", name=op.f("ck_payment_lines_line_total")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_lines_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_payment_lines_item_id_items")
        ),
        sa.PrimaryKeyConstraint("payment_id", "line_no", name=op.f("pk_payment_lines")),
    )
    op.create_index(op.f("ix_payment_lines_item_id"), "payment_lines", ["item_id"])
    op.create_table(
        "dish_ratings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", BIG_ID, nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("person_id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name=op.f("ck_dish_ratings_stars")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_dish_ratings_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_dish_ratings_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_dish_ratings_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_dish_ratings_canteen_id_canteens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dish_ratings")),
        sa.UniqueConstraint(
            "payment_id", "item_id", name=op.f("uq_dish_ratings_payment_id_item_id")
        ),
    )
    op.create_index(op.f("ix_dish_ratings_person_id"), "dish_ratings", ["person_id"])
    op.create_index("ix_dish_ratings_item_created", "dish_ratings", ["item_id", "created_at"])
    op.create_index("ix_dish_ratings_canteen_created", "dish_ratings", ["canteen_id", "created_at"])


def downgrade() -> None:
    op.drop_table("dish_ratings")
    op.drop_table("payment_lines")
