"""The public directory's canteen fields: district, access for people without a one
card, what they must know, map coordinates (issue 14 §6).

Why: the public directory (``/canteens``) filters by district, says whether and how
someone who is not staff of a participating unit may eat there (``guest_access``:
``none`` staff only, ``appointment``, ``open``; ``guest_note`` what to bring), and links
to a map (``coordinates``: "lng,lat", GCJ-02). Existing canteens get no district, no
coordinates and "staff only" — nothing is claimed about a canteen until its unit says so.

SQLite adds a column with its CHECK as a column constraint (its ALTER TABLE takes
one); PostgreSQL adds the column, then the named table constraint the model declares.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ACCESS_CHECK = "guest_access IN ('none','appointment','open')"


def upgrade() -> None:
    op.add_column(
        "canteens", sa.Column("district", sa.String(length=40), server_default="", nullable=False)
    )
    op.add_column(
        "canteens",
        sa.Column("guest_note", sa.String(length=500), server_default="", nullable=False),
    )
    op.add_column("canteens", sa.Column("coordinates", sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(
            "canteens",
            sa.Column("guest_access", sa.String(length=12), server_default="none", nullable=False),
        )
        op.create_check_constraint("ck_canteens_guest_access", "canteens", ACCESS_CHECK)
    else:
        op.execute(
            "ALTER TABLE canteens ADD COLUMN guest_access VARCHAR(12) DEFAULT 'none' NOT NULL"
            f" CONSTRAINT ck_canteens_guest_access CHECK ({ACCESS_CHECK})"
        )


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place, its own CHECK with it; so does PostgreSQL.
    for name in ("guest_access", "coordinates", "guest_note", "district"):
        op.drop_column("canteens", name)
