"""Menus and pre-orders (R-S2, R-S3, issue 16 §2).

Why: a canteen's weekly menu (``menu_dishes``: the catalogue's dishes per day and meal),
its pre-order rule (``menu_settings``: cut-off, no-show rule), and diners' pre-orders
(``preorders`` with ``preorder_lines``). New tables only: nothing existing moves. The
money of a prepaid pre-order is held in a new per-person ledger account kind
(``preorder_hold``), opened when first needed — no row is written here.

Revision ID: 0022
Revises: 0025
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0025"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "menu_dishes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_menu_dishes_canteen_id_canteens")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_menu_dishes_item_id_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_menu_dishes")),
        sa.UniqueConstraint(
            "canteen_id",
            "day",
            "meal",
            "item_id",
            name=op.f("uq_menu_dishes_canteen_id_day_meal_item_id"),
        ),
    )
    op.create_index("ix_menu_dishes_canteen_day", "menu_dishes", ["canteen_id", "day"])
    op.create_table(
        "menu_settings",
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("cutoff", sa.Time(), nullable=False),
        sa.Column("no_show", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "no_show IN ('charge','release')", name=op.f("ck_menu_settings_no_show")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_menu_settings_canteen_id_canteens")
        ),
        sa.PrimaryKeyConstraint("canteen_id", name=op.f("pk_menu_settings")),
    )
    op.create_table(
        "preorders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("person_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("pay_mode", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("held_subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("held_cash_fen", sa.BigInteger(), nullable=False),
        sa.Column("hold_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("release_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("payment_id", BIG_ID, nullable=True),
        sa.Column("no_show_action", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "pay_mode IN ('prepaid','at_pickup')", name=op.f("ck_preorders_pay_mode")
        ),
        sa.CheckConstraint(
            "status IN ('placed','cancelled','picked_up','no_show')",
            name=op.f("ck_preorders_status"),
        ),
        sa.CheckConstraint(
            "amount_fen > 0 AND held_subsidy_fen >= 0 AND held_cash_fen >= 0",
            name=op.f("ck_preorders_amounts"),
        ),
        sa.CheckConstraint(
            "held_subsidy_fen + held_cash_fen = CASE WHEN pay_mode = 'prepaid'"
            " THEN amount_fen ELSE 0 END",
            name=op.f("ck_preorders_held_sums"),
        ),
        sa.CheckConstraint(
            "no_show_action IS NULL OR no_show_action IN ('charged','released','none')",
            name=op.f("ck_preorders_no_show_action"),
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_preorders_canteen_id_canteens")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_preorders_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_preorders_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preorders")),
        sa.UniqueConstraint(
            "person_id", "request_id", name=op.f("uq_preorders_person_id_request_id")
        ),
    )
    op.create_index("ix_preorders_canteen_day", "preorders", ["canteen_id", "day"])
    op.create_index("ix_preorders_person_day", "preorders", ["person_id", "day"])
    op.create_table(
        "preorder_lines",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("preorder_id", BIG_ID, nullable=False),
        sa.Column("item_id", BIG_ID, nullable=False),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("qty BETWEEN 1 AND 20", name=op.f("ck_preorder_lines_qty")),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_preorder_lines_price")),
        sa.ForeignKeyConstraint(
            ["preorder_id"], ["preorders.id"], name=op.f("fk_preorder_lines_preorder_id_preorders")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_preorder_lines_item_id_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preorder_lines")),
    )
    op.create_index(op.f("ix_preorder_lines_preorder_id"), "preorder_lines", ["preorder_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_preorder_lines_preorder_id"), table_name="preorder_lines")
    op.drop_table("preorder_lines")
    op.drop_index("ix_preorders_person_day", table_name="preorders")
    op.drop_index("ix_preorders_canteen_day", table_name="preorders")
    op.drop_table("preorders")
    op.drop_table("menu_settings")
    op.drop_index("ix_menu_dishes_canteen_day", table_name="menu_dishes")
    op.drop_table("menu_dishes")
