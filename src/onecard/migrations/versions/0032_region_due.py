"""Each fund region's ``region_due`` account (issue 17 §2).

Why: a payment by a person of fund region A at a canteen of fund region B debits A's
purse and credits B's canteen; without a counterpart in each region, neither region's
books balance until the quarter's clearing. Every such payment now also posts A's
``region_due`` (+, what A owes) and B's (−, what B is owed), and the clearing takes them
back as the money moves between the two funds' banks. The account is a system account
of every fund region, opened with the others; this opens it for the fund regions that
exist, and bumps the fund-map version so running processes read the new accounts.

Revision ID: 0032
Revises: 0028
Create Date: 2026-11-30
"""

from alembic import op

revision = "0032"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO accounts (region_id, kind, owner_kind, owner_id, allow_negative, cached,"
        " balance) SELECT region_id, 'region_due', 'system', owner_id, TRUE, FALSE, 0"
        " FROM accounts WHERE owner_kind = 'system' AND kind = 'dining_fund'"
    )
    op.execute("UPDATE interregion_fund_version SET version = version + 1")


def downgrade() -> None:
    op.execute(
        "DELETE FROM accounts WHERE owner_kind = 'system' AND kind = 'region_due'"
        " AND id NOT IN (SELECT account_id FROM postings)"
    )
