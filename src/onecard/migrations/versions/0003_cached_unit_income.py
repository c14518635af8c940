"""Units' income lines keep a cached balance, like the purses (ledger invariant 5).

Why: a unit's income line is written only by funds arriving and by the money runs, never
by a payment, so a running balance costs no contention; and a quarter's distribution
debits it once per person, so deriving it meant summing 83,600 more postings a quarter,
twice per run (the plan, then the locked check). Existing lines get the balance their
postings give; ``ledger verify`` checks it from then on like any cached account.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE accounts SET cached = true, balance = coalesce((SELECT sum(p.amount)"
        " FROM postings p WHERE p.account_id = accounts.id), 0) WHERE kind = 'unit_income'"
    )


def downgrade() -> None:
    op.execute("UPDATE accounts SET cached = false, balance = 0 WHERE kind = 'unit_income'")
