"""Accounting periods per fund region (issue 17 §1).

Why: each fund region (``org.fund_regions``) settles its own quarters, so closing
2026Q4 for a county that keeps its own fund must not close it for the city.
``ledger_periods`` gains ``region_id`` (the fund region whose quarter is closed) and its
key becomes (region_id, code). Every period closed so far was the deployment's, i.e. the
top region's.

The table is small (four rows a year per fund region) and nothing refers to it, so it is
rebuilt: rows read, table dropped and created with the new key, rows written back (the
same on SQLite, which cannot change a primary key in place, and PostgreSQL).

On PostgreSQL, ``onecard_fund_region(region_id)`` answers a region's fund region (the
rule of ``org.fund_regions``: the nearest region at or above it with ``own_fund``, the
top one at the latest) for the ledger writer's closed-period look-up on the payment
path: a STABLE PL/pgSQL function keeps its plans, so the look-up costs what it did
before (a recursive query in the statement is planned afresh on every payment). SQLite
plans in microseconds and uses the recursive query.

Revision ID: 0029
Revises: 0027
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0027"
branch_labels = None
depends_on = None


def _top(bind: sa.Connection) -> int:
    found = bind.execute(
        sa.text("SELECT id FROM regions WHERE parent_id IS NULL ORDER BY id LIMIT 1")
    ).scalar()
    return 1 if found is None else int(found)


FUND_REGION_FN = """
CREATE OR REPLACE FUNCTION onecard_fund_region(r bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur bigint := r;
    up bigint;
    own boolean;
BEGIN
    FOR i IN 1..16 LOOP
        SELECT parent_id, own_fund INTO up, own FROM regions WHERE id = cur;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        IF own OR up IS NULL THEN
            RETURN cur;
        END IF;
        cur := up;
    END LOOP;
    RETURN cur;
END
$$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(FUND_REGION_FN)
    top = _top(bind)
    rows = bind.execute(sa.text("SELECT code, closed_at, closed_by FROM ledger_periods")).all()
    op.drop_table("ledger_periods")
    table = op.create_table(
        "ledger_periods",
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("region_id", "code", name=op.f("pk_ledger_periods")),
    )
    if rows:
        op.bulk_insert(
            table,
            [
                {
                    "region_id": top,
                    "code": r.code,
                    "closed_at": r.closed_at,
                    "closed_by": r.closed_by,
                }
                for r in rows
            ],
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS onecard_fund_region(bigint)")
    top = _top(bind)
    rows = bind.execute(
        sa.text("SELECT code, closed_at, closed_by FROM ledger_periods WHERE region_id = :r"),
        {"r": top},
    ).all()
    op.drop_table("ledger_periods")
    table = op.create_table(
        "ledger_periods",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ledger_periods")),
    )
    if rows:
        op.bulk_insert(
            table,
            [{"code": r.code, "closed_at": r.closed_at, "closed_by": r.closed_by} for r in rows],
        )
