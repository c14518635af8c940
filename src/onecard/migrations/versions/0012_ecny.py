"""e-CNY orders and refunds (数字人民币, issue 15 §2).

Why: a payment or cash top-up by the diner's e-CNY payment code is recorded as an order
(``ecny_orders``, pending) in its own transaction before the acquirer is asked, and
booked once its outcome is known (the answer, a signed notice, or a query); a refund
back to the wallet likewise (``ecny_refunds``). New tables only: nothing existing moves.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ecny_orders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("order_no", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("terminal_id", BIG_ID, nullable=True),
        sa.Column("txn_id", sa.String(length=64), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("canteen_id", sa.BigInteger(), nullable=True),
        sa.Column("person_id", BIG_ID, nullable=True),
        sa.Column("meal_period_id", sa.BigInteger(), nullable=True),
        sa.Column("diner_class", sa.String(length=10), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("refusal_code", sa.String(length=40), nullable=True),
        sa.Column("trade_no", sa.String(length=40), nullable=True),
        sa.Column("failure_reason", sa.String(length=100), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("queries", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('payment','topup')", name=op.f("ck_ecny_orders_kind")),
        sa.CheckConstraint(
            "status IN ('pending','succeeded','failed','refused')",
            name=op.f("ck_ecny_orders_status"),
        ),
        sa.CheckConstraint(
            "amount_fen >= 0 AND refunded_fen >= 0", name=op.f("ck_ecny_orders_nonneg")
        ),
        sa.CheckConstraint("refunded_fen <= amount_fen", name=op.f("ck_ecny_orders_refund_cap")),
        sa.CheckConstraint(
            "status = 'refused' OR amount_fen > 0", name=op.f("ck_ecny_orders_positive")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_ecny_orders_terminal_id_terminals")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_ecny_orders_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecny_orders")),
        sa.UniqueConstraint("order_no", name=op.f("uq_ecny_orders_order_no")),
        sa.UniqueConstraint(
            "terminal_id", "txn_id", name=op.f("uq_ecny_orders_terminal_id_txn_id")
        ),
    )
    op.create_index(op.f("ix_ecny_orders_canteen_id"), "ecny_orders", ["canteen_id"])
    op.create_index(op.f("ix_ecny_orders_person_id"), "ecny_orders", ["person_id"])
    op.create_index(op.f("ix_ecny_orders_business_date"), "ecny_orders", ["business_date"])
    op.create_table(
        "ecny_refunds",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("refund_no", sa.String(length=40), nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("trade_no", sa.String(length=40), nullable=True),
        sa.Column("failure_reason", sa.String(length=100), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_ecny_refunds_positive")),
        sa.CheckConstraint(
            "status IN ('pending','succeeded','failed')", name=op.f("ck_ecny_refunds_status")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["ecny_orders.id"], name=op.f("fk_ecny_refunds_order_id_ecny_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecny_refunds")),
        sa.UniqueConstraint("refund_no", name=op.f("uq_ecny_refunds_refund_no")),
    )
    op.create_index(op.f("ix_ecny_refunds_order_id"), "ecny_refunds", ["order_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ecny_refunds_order_id"), table_name="ecny_refunds")
    op.drop_table("ecny_refunds")
    op.drop_index(op.f("ix_ecny_orders_business_date"), table_name="ecny_orders")
    op.drop_index(op.f("ix_ecny_orders_person_id"), table_name="ecny_orders")
    op.drop_index(op.f("ix_ecny_orders_canteen_id"), table_name="ecny_orders")
    op.drop_table("ecny_orders")
