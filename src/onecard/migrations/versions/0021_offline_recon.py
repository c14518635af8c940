"""Offline terminals reconciled daily: duplicates counted, gaps remembered.

Why: the daily reconciliation of offline terminals (``terminals.recon``) reports per
terminal the records sent again (``offline_records.resent``, counted when a duplicate is
answered) and the gap a terminal has shown by sending later records before earlier ones
(``offline_terminals.ahead_seq`` / ``ahead_taken_at``: until then the server cannot know
records are missing).

Revision ID: 0021
Revises: 0016
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "offline_records",
        sa.Column("resent", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("offline_terminals", sa.Column("ahead_seq", sa.BigInteger(), nullable=True))
    op.add_column("offline_terminals", sa.Column("ahead_taken_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("offline_terminals", "ahead_taken_at")
    op.drop_column("offline_terminals", "ahead_seq")
    op.drop_column("offline_records", "resent")
