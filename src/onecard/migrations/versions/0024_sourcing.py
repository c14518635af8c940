"""Purchasing and traceability (R-S2, R-S4, issue 16 §5).

Why: a canteen's ingredients, its dishes' recipes (grams per portion), its suppliers
(licence number), the batches delivered (quantity, unit cost, inspection) and which
batches each meal's dishes used, so a batch is traced to meals and a meal to batches.
New tables only: nothing existing moves.

Revision ID: 0024
Revises: 0022
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MAX_GRAMS_PER_PORTION = 5_000
MAX_GRAMS_PER_UNIT = 1_000_000
MAX_QUANTITY_MILLI = 1_000_000_000
MAX_UNIT_COST_FEN = 10_000_000


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "ingredients",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.Column("grams_per_unit", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            f"grams_per_unit BETWEEN 1 AND {MAX_GRAMS_PER_UNIT}",
            name=op.f("ck_ingredients_grams_per_unit"),
        ),
        _fk("ingredients", "canteen_id", "canteens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingredients")),
        sa.UniqueConstraint("canteen_id", "name", name=op.f("uq_ingredients_canteen_id_name")),
    )
    op.create_table(
        "recipe_lines",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("ingredient_id", BIG_ID, nullable=False),
        sa.Column("grams", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            f"grams BETWEEN 1 AND {MAX_GRAMS_PER_PORTION}", name=op.f("ck_recipe_lines_grams")
        ),
        _fk("recipe_lines", "item_id", "items"),
        _fk("recipe_lines", "ingredient_id", "ingredients"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipe_lines")),
        sa.UniqueConstraint(
            "item_id", "ingredient_id", name=op.f("uq_recipe_lines_item_id_ingredient_id")
        ),
    )
    op.create_table(
        "suppliers",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("licence_no", sa.String(length=40), nullable=False),
        sa.Column("contact", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("suppliers", "canteen_id", "canteens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
        sa.UniqueConstraint(
            "canteen_id", "licence_no", name=op.f("uq_suppliers_canteen_id_licence_no")
        ),
    )
    op.create_table(
        "ingredient_batches",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("ingredient_id", BIG_ID, nullable=False),
        sa.Column("supplier_id", BIG_ID, nullable=False),
        sa.Column("batch_no", sa.String(length=40), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("unit_cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("inspection", sa.String(length=4), nullable=False),
        sa.Column("inspection_note", sa.String(length=500), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            f"quantity_milli BETWEEN 1 AND {MAX_QUANTITY_MILLI}",
            name=op.f("ck_ingredient_batches_quantity"),
        ),
        sa.CheckConstraint(
            f"unit_cost_fen BETWEEN 0 AND {MAX_UNIT_COST_FEN}",
            name=op.f("ck_ingredient_batches_cost"),
        ),
        sa.CheckConstraint(
            "inspection IN ('pass','fail')", name=op.f("ck_ingredient_batches_inspection")
        ),
        _fk("ingredient_batches", "canteen_id", "canteens"),
        _fk("ingredient_batches", "ingredient_id", "ingredients"),
        _fk("ingredient_batches", "supplier_id", "suppliers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingredient_batches")),
        sa.UniqueConstraint(
            "supplier_id",
            "ingredient_id",
            "batch_no",
            name=op.f("uq_ingredient_batches_supplier_id_ingredient_id_batch_no"),
        ),
    )
    op.create_index(
        "ix_ingredient_batches_canteen", "ingredient_batches", ["canteen_id", "received_on"]
    )
    op.create_table(
        "batch_uses",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("batch_id", BIG_ID, nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            f"quantity_milli BETWEEN 1 AND {MAX_QUANTITY_MILLI}",
            name=op.f("ck_batch_uses_quantity"),
        ),
        _fk("batch_uses", "canteen_id", "canteens"),
        _fk("batch_uses", "item_id", "items"),
        _fk("batch_uses", "batch_id", "ingredient_batches"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_uses")),
    )
    op.create_index(op.f("ix_batch_uses_batch_id"), "batch_uses", ["batch_id"])
    op.create_index("ix_batch_uses_meal", "batch_uses", ["canteen_id", "day", "meal"])


def downgrade() -> None:
    op.drop_index("ix_batch_uses_meal", table_name="batch_uses")
    op.drop_index(op.f("ix_batch_uses_batch_id"), table_name="batch_uses")
    op.drop_table("batch_uses")
    op.drop_index("ix_ingredient_batches_canteen", table_name="ingredient_batches")
    op.drop_table("ingredient_batches")
    op.drop_table("suppliers")
    op.drop_table("recipe_lines")
    op.drop_table("ingredients")
