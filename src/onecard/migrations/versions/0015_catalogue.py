"""The catalogue and shop (issue 16 §1; R-F5, R-A11): what a dish and a good say about
themselves, the city's large-store reference prices, stock moves, each unit's shop rule.

Why: the till could sell item lines and a CHECK capped goods at a market price, but
nothing could create a dish, a good or a price. ``items`` gains a good's barcode, unit
and stock count (never negative) and a dish's category, portion, allergens and
nutrition per portion (integers: grams, kJ, kcal, milligrams); ``reference_prices`` keeps
every price the bureau publishes (a new price is a new row); ``stock_moves`` every change
of a stock count; ``shop_rules`` whether a unit lets the subsidy pay for goods (no row:
cash only). Existing items get empty fields and a stock of 0.

SQLite adds a column with its CHECK as a column constraint (its ALTER TABLE takes
one); PostgreSQL adds the column, then the named table constraint the model declares.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

STOCK_CHECK = "stock_qty >= 0"
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("items", sa.Column("barcode", sa.String(length=32), nullable=True))
    for name, length in (("unit", 10), ("category", 20), ("allergens", 200)):
        op.add_column(
            "items",
            sa.Column(name, sa.String(length=length), server_default="", nullable=False),
        )
    for name in (
        "portion_g",
        "energy_kj",
        "energy_kcal",
        "protein_mg",
        "fat_mg",
        "carbohydrate_mg",
        "salt_mg",
    ):
        op.add_column("items", sa.Column(name, sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "items", sa.Column("stock_qty", sa.Integer(), server_default="0", nullable=False)
        )
        op.create_check_constraint("ck_items_stock_nonneg", "items", STOCK_CHECK)
    else:
        op.execute(
            "ALTER TABLE items ADD COLUMN stock_qty INTEGER DEFAULT '0' NOT NULL"
            f" CONSTRAINT ck_items_stock_nonneg CHECK ({STOCK_CHECK})"
        )
    op.create_index("ix_items_canteen_barcode", "items", ["canteen_id", "barcode"], unique=True)

    op.create_table(
        "reference_prices",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("region_id", BIG_ID, nullable=False),
        sa.Column("barcode", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("store", sa.String(length=60), server_default="", nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_reference_prices_positive")),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_reference_prices_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_prices")),
    )
    op.create_index(
        "ix_reference_prices_barcode", "reference_prices", ["region_id", "barcode", "valid_from"]
    )
    op.create_index(
        "ix_reference_prices_name", "reference_prices", ["region_id", "name", "valid_from"]
    )

    op.create_table(
        "stock_moves",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("stock_after", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), server_default="", nullable=False),
        sa.Column("person_id", BIG_ID, nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('in','out','count')", name=op.f("ck_stock_moves_kind")),
        sa.CheckConstraint("stock_after >= 0", name=op.f("ck_stock_moves_nonneg")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_stock_moves_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_stock_moves_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_moves")),
    )
    op.create_index(op.f("ix_stock_moves_item_id"), "stock_moves", ["item_id"], unique=False)

    op.create_table(
        "shop_rules",
        sa.Column("unit_id", BIG_ID, nullable=False),
        sa.Column("goods_from_subsidy", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_shop_rules_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_shop_rules")),
    )


def downgrade() -> None:
    op.drop_table("shop_rules")
    op.drop_index(op.f("ix_stock_moves_item_id"), table_name="stock_moves")
    op.drop_table("stock_moves")
    op.drop_index("ix_reference_prices_name", table_name="reference_prices")
    op.drop_index("ix_reference_prices_barcode", table_name="reference_prices")
    op.drop_table("reference_prices")
    op.drop_index("ix_items_canteen_barcode", table_name="items")
    for name in (
        "stock_qty",
        "salt_mg",
        "carbohydrate_mg",
        "fat_mg",
        "protein_mg",
        "energy_kcal",
        "energy_kj",
        "portion_g",
        "allergens",
        "category",
        "unit",
        "barcode",
    ):
        op.drop_column("items", name)
