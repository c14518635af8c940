"""The bank file exchange and a city's network number.

Tables for the file adapter (``channels.files``): every file written for or read from the
bank with its bytes, the adapter's queue of orders (each in one batch file, then given a
result by a return file) and every statement line read (once per account and serial).
``regions.network_no`` records the network number ``onecard init`` gave the city.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bank_files",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("fmt", sa.String(length=4), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("fmt IN ('csv','xlsx')", name=op.f("ck_bank_files_fmt")),
        sa.CheckConstraint(
            "kind IN ('transfers','collections','returns','statement')",
            name=op.f("ck_bank_files_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_files")),
        sa.UniqueConstraint("kind", "sha256", name=op.f("uq_bank_files_kind_sha256")),
    )
    op.create_table(
        "bank_file_orders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("payer_account", sa.String(length=40), nullable=False),
        sa.Column("payer_name", sa.String(length=100), nullable=False),
        sa.Column("payee_account", sa.String(length=40), nullable=False),
        sa.Column("payee_name", sa.String(length=100), nullable=False),
        sa.Column("payee_bank", sa.String(length=100), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("queue_ref", sa.String(length=40), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("batch_file_id", BIG_ID, nullable=True),
        sa.Column("result", sa.String(length=6), nullable=True),
        sa.Column("failure_reason", sa.String(length=100), nullable=True),
        sa.Column("bank_serial", sa.String(length=40), nullable=True),
        sa.Column("result_at", sa.DateTime(), nullable=True),
        sa.Column("result_file_id", BIG_ID, nullable=True),
        sa.CheckConstraint(
            "kind IN ('transfer','collection')", name=op.f("ck_bank_file_orders_kind")
        ),
        sa.CheckConstraint(
            "result IS NULL OR result IN ('paid','failed')", name=op.f("ck_bank_file_orders_result")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_bank_file_orders_positive")),
        sa.ForeignKeyConstraint(
            ["batch_file_id"],
            ["bank_files.id"],
            name=op.f("fk_bank_file_orders_batch_file_id_bank_files"),
        ),
        sa.ForeignKeyConstraint(
            ["result_file_id"],
            ["bank_files.id"],
            name=op.f("fk_bank_file_orders_result_file_id_bank_files"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_file_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_bank_file_orders_order_id")),
    )
    op.create_index(
        op.f("ix_bank_file_orders_batch_file_id"),
        "bank_file_orders",
        ["batch_file_id"],
        unique=False,
    )
    op.create_table(
        "bank_statement_lines",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_no", sa.String(length=40), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("time", sa.Time(), nullable=False),
        sa.Column("direction", sa.String(length=6), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("counterparty_name", sa.String(length=100), nullable=False),
        sa.Column("counterparty_account", sa.String(length=40), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("file_id", BIG_ID, nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "direction IN ('credit','debit')", name=op.f("ck_bank_statement_lines_direction")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_bank_statement_lines_positive")),
        sa.ForeignKeyConstraint(
            ["file_id"], ["bank_files.id"], name=op.f("fk_bank_statement_lines_file_id_bank_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statement_lines")),
        sa.UniqueConstraint(
            "account_no", "serial", name=op.f("uq_bank_statement_lines_account_no_serial")
        ),
    )
    op.create_index(
        op.f("ix_bank_statement_lines_day"), "bank_statement_lines", ["day"], unique=False
    )
    op.create_index(
        op.f("ix_bank_statement_lines_file_id"), "bank_statement_lines", ["file_id"], unique=False
    )
    op.add_column("regions", sa.Column("network_no", sa.String(length=3), nullable=True))


def downgrade() -> None:
    # Plain ALTER (SQLite ≥ 3.35 has DROP COLUMN): a batch rebuild of ``regions`` would
    # have to drop a table every other table refers to.
    op.execute("ALTER TABLE regions DROP COLUMN network_no")
    op.drop_index(op.f("ix_bank_statement_lines_file_id"), table_name="bank_statement_lines")
    op.drop_index(op.f("ix_bank_statement_lines_day"), table_name="bank_statement_lines")
    op.drop_table("bank_statement_lines")
    op.drop_index(op.f("ix_bank_file_orders_batch_file_id"), table_name="bank_file_orders")
    op.drop_table("bank_file_orders")
    op.drop_table("bank_files")
