"""Every journal entry records how many postings it has (``journal_entries.legs``).

Why: ``ledger verify`` checks that every entry has exactly its postings by comparing a
fingerprint of the entries (their ``legs``) with one of the postings, two scans, instead
of grouping every posting by entry (docs/architecture.md, "Ledger verify").

Existing entries are counted from their postings (an entry without any gets 0, which
``ledger verify`` reports, as it did before). The ledger is append-only, so the update
runs with the append-only trigger set aside for this one statement. PostgreSQL then
drops the column's default: every writer states ``legs``. SQLite cannot drop a default
without rebuilding the table; there the default 0 stays (an entry written without
``legs`` would show up in ``ledger verify``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# 0001's SQLite append-only trigger on journal_entries, as 0001 installed it (frozen).
NO_UPDATE = """
    CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on journal_entries refused'); END
    """


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column(
        "journal_entries",
        sa.Column("legs", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_append_only")
        op.execute(
            "UPDATE journal_entries e SET legs = c.n FROM (SELECT entry_id, count(*) AS n"
            " FROM postings GROUP BY entry_id) c WHERE c.entry_id = e.id"
        )
        op.execute("ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_append_only")
        op.alter_column("journal_entries", "legs", server_default=None)
    else:
        op.execute("DROP TRIGGER journal_entries_no_update")
        op.execute(
            "UPDATE journal_entries SET legs = (SELECT count(*) FROM postings p"
            " WHERE p.entry_id = journal_entries.id)"
        )
        op.execute(NO_UPDATE)


def downgrade() -> None:
    # (SQLite ≥ 3.35 drops a column in place: no table rebuild losing its triggers.)
    op.drop_column("journal_entries", "legs")
