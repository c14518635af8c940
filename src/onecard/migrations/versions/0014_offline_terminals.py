"""Offline terminals: device signing keys, issued working sets, uploaded records, debts.

Why: a terminal that loses its network keeps selling within limits on the working set it
downloaded, signs each record with its Ed25519 key, and uploads them later; the server
applies each terminal's records once and in order (``offline_records``), checks them
against the version of the working set they name (``offline_working_sets``), and what a
purse could no longer cover becomes a debt recovered from the next allocation
(``offline_debts``). The ``offline_debt`` account kind needs no DDL (kinds are free text;
``allow_negative`` is set when the account is opened).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "offline_records",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("terminal_id", BIG_ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("txn_id", sa.String(length=64), nullable=False),
        sa.Column("ws_version", sa.BigInteger(), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("meal", sa.String(length=20), nullable=True),
        sa.Column("code_step", sa.BigInteger(), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("period", sa.String(length=6), nullable=True),
        sa.CheckConstraint(
            "status IN ('applied','refused')", name=op.f("ck_offline_records_status")
        ),
        sa.CheckConstraint("amount_fen >= 0", name=op.f("ck_offline_records_amount_nonneg")),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_offline_records_terminal_id_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_records")),
        sa.UniqueConstraint("terminal_id", "seq", name=op.f("uq_offline_records_terminal_id_seq")),
    )
    op.create_table(
        "offline_terminals",
        sa.Column("terminal_id", BIG_ID, nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("next_seq >= 1", name=op.f("ck_offline_terminals_seq_positive")),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_offline_terminals_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("terminal_id", name=op.f("pk_offline_terminals")),
    )
    op.create_table(
        "offline_working_sets",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("terminal_id", BIG_ID, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.Column("limits", sa.Text(), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.Column("digests", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_offline_working_sets_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_working_sets")),
        sa.UniqueConstraint(
            "terminal_id", "version", name=op.f("uq_offline_working_sets_terminal_id_version")
        ),
    )
    op.create_table(
        "offline_debts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("person_id", BIG_ID, nullable=False),
        sa.Column("unit_id", BIG_ID, nullable=False),
        sa.Column("record_id", BIG_ID, nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("recovered_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("recovered_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_offline_debts_positive")),
        sa.CheckConstraint(
            "recovered_fen >= 0 AND recovered_fen <= amount_fen",
            name=op.f("ck_offline_debts_recovered"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_offline_debts_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["offline_records.id"],
            name=op.f("fk_offline_debts_record_id_offline_records"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_offline_debts_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_debts")),
        sa.UniqueConstraint("record_id", name=op.f("uq_offline_debts_record_id")),
    )
    op.create_index(
        op.f("ix_offline_debts_person_id"), "offline_debts", ["person_id"], unique=False
    )
    op.create_index(op.f("ix_offline_debts_unit_id"), "offline_debts", ["unit_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_offline_debts_unit_id"), table_name="offline_debts")
    op.drop_index(op.f("ix_offline_debts_person_id"), table_name="offline_debts")
    op.drop_table("offline_debts")
    op.drop_table("offline_records")
    op.drop_table("offline_working_sets")
    op.drop_table("offline_terminals")
