"""Regions that keep their own money, and a province above cities (issue 17 §1).

Why: one deployment now carries a city with its counties and townships, or a province
of cities. A region with ``own_fund`` keeps its own dining fund, funding calendar and
settlement; a region without one shares the fund of the nearest region above it that has
one (``org.fund_regions``). The top region always keeps its own, so an existing city
keeps exactly the behaviour it had. ``province`` joins the levels of regions (a province
is above cities; units are never at province level).

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

LEVELS_OLD = "level IN ('city','county','township')"
LEVELS_NEW = "level IN ('province','city','county','township')"


def _set_level_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE regions DROP CONSTRAINT ck_regions_level")
        op.execute(f"ALTER TABLE regions ADD CONSTRAINT ck_regions_level CHECK ({new})")
        return
    # SQLite cannot alter a CHECK, and rebuilding ``regions`` (a batch migration) fails
    # while units, people and canteens refer to it. SQLite's documented procedure for a
    # change that leaves every stored row valid is to edit the stored schema text and
    # bump the schema version (sqlite.org/lang_altertable.html, "writable_schema").
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'regions'",
        (old, new),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    op.add_column(
        "regions", sa.Column("own_fund", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.execute("UPDATE regions SET own_fund = TRUE WHERE parent_id IS NULL")
    _set_level_check(LEVELS_OLD, LEVELS_NEW)


def downgrade() -> None:
    _set_level_check(LEVELS_NEW, LEVELS_OLD)
    op.drop_column("regions", "own_fund")
