"""A good's on-hand stock counts the till's sales (issue 16 §1, R-F5).

Why: a good sold at the till was not taken off its stock count. The payment path must
not lock or update the item (a popular good would serialise the lunch rush), so the
count is derived: ``items.stock_qty`` is the count recorded by the stock moves, with
the sales of payments up to ``items.sold_through`` (a payment id) folded into it; what
a page shows is that count less the goods of approved payments after it. The index on
``payment_lines.item_id`` becomes ``(item_id, payment_id)`` so "sold since the fold" is
a range of one index, whatever the good's history (same number of indexes to write).

Revision ID: 0026
Revises: 0023
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTERs (SQLite too): a batch rebuild would re-render the table's CHECKs.
    op.add_column(
        "items", sa.Column("sold_through", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.drop_index(op.f("ix_payment_lines_item_id"), table_name="payment_lines")
    op.create_index("ix_payment_lines_item_payment", "payment_lines", ["item_id", "payment_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_lines_item_payment", table_name="payment_lines")
    op.create_index(op.f("ix_payment_lines_item_id"), "payment_lines", ["item_id"])
    op.drop_column("items", "sold_through")
