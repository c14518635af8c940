"""Organisation administration: unit level and canteen flag, canteen contract and
windows, and retirement of regions, units and canteens.

Why: the bureau now creates, edits and retires the city's organisation through pages,
the API and the CLI (org/admin.py). A unit records its level (city / county / township
unit) and whether it has a canteen; a canteen its serving windows (the terminal plan
counts them) and its operator's contract dates. Nothing is ever deleted: a retired row
keeps its ledger accounts and history and carries ``retired_at``.

Existing rows: a unit takes its region's level and has a canteen when one is registered
for it. The CHECK constraints sit on the new columns themselves (``ADD COLUMN … CHECK``),
which SQLite and PostgreSQL both accept without rebuilding the table.

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("retired_at", sa.DateTime(), nullable=True))
    op.execute(
        "ALTER TABLE units ADD COLUMN level VARCHAR(10) DEFAULT 'city' NOT NULL"
        " CONSTRAINT ck_units_unit_level CHECK (level IN ('city','county','township'))"
    )
    op.add_column(
        "units",
        sa.Column("has_canteen", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("units", sa.Column("retired_at", sa.DateTime(), nullable=True))
    op.execute(
        "ALTER TABLE canteens ADD COLUMN windows INTEGER DEFAULT 0 NOT NULL"
        " CONSTRAINT ck_canteens_windows_nonneg CHECK (windows >= 0)"
    )
    op.add_column("canteens", sa.Column("contract_starts", sa.Date(), nullable=True))
    op.add_column("canteens", sa.Column("contract_ends", sa.Date(), nullable=True))
    op.add_column("canteens", sa.Column("retired_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE units SET level = (SELECT r.level FROM regions r WHERE r.id = units.region_id),"
        " has_canteen = EXISTS (SELECT 1 FROM canteens c WHERE c.unit_id = units.id)"
    )


def downgrade() -> None:
    # (SQLite ≥ 3.35 drops a column in place, its own CHECK with it.)
    for table, column in (
        ("canteens", "retired_at"),
        ("canteens", "contract_ends"),
        ("canteens", "contract_starts"),
        ("canteens", "windows"),
        ("units", "retired_at"),
        ("units", "has_canteen"),
        ("units", "level"),
        ("regions", "retired_at"),
    ):
        op.drop_column(table, column)
