"""Dashboard roll-ups: the payments summed per day, quarter, canteen, unit and person,
kept current from watermarks (``reports.service.catch_up``).

Why: at a city's size (1,679 units, 1,205 canteens, 7.5 M payments a quarter) a live
GROUP BY over ``payments`` for every chart took seconds and the unit → canteen matrix
answered 28 MB. The roll-ups are derived data: empty after this migration, they fill on
the first dashboard visit (or ``onecard reports catch-up``) from the payments already
there. Nothing on the payment path writes them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _n(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "report_watermarks",
        sa.Column("source", sa.String(length=12), nullable=False),
        _n("done_id"),
        sa.Column("pending_id", sa.BigInteger(), nullable=True),
        sa.Column("pending_at", sa.DateTime(), nullable=True),
        sa.Column("folded_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_report_watermarks")),
    )
    op.create_table(
        "report_days",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("diner_class", sa.String(length=10), nullable=False),
        _n("payments"),
        _n("amount_fen"),
        _n("subsidy_fen"),
        _n("reversals"),
        sa.PrimaryKeyConstraint("business_date", "diner_class", name=op.f("pk_report_days")),
    )
    op.create_table(
        "report_slots",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        _n("payments"),
        sa.PrimaryKeyConstraint("business_date", "slot", name=op.f("pk_report_slots")),
    )
    op.create_table(
        "report_canteens",
        sa.Column("quarter", sa.String(length=6), nullable=False),
        _n("canteen_id"),
        sa.Column("diner_class", sa.String(length=10), nullable=False),
        _n("payments"),
        _n("amount_fen"),
        _n("reversals"),
        sa.PrimaryKeyConstraint(
            "quarter", "canteen_id", "diner_class", name=op.f("pk_report_canteens")
        ),
    )
    op.create_table(
        "report_units",
        sa.Column("quarter", sa.String(length=6), nullable=False),
        _n("home_unit_id"),
        _n("payments"),
        _n("amount_fen"),
        sa.PrimaryKeyConstraint("quarter", "home_unit_id", name=op.f("pk_report_units")),
    )
    op.create_table(
        "report_pairs",
        sa.Column("quarter", sa.String(length=6), nullable=False),
        _n("home_unit_id"),
        _n("canteen_id"),
        _n("payments"),
        _n("amount_fen"),
        sa.PrimaryKeyConstraint(
            "quarter", "home_unit_id", "canteen_id", name=op.f("pk_report_pairs")
        ),
    )
    op.create_index("ix_report_pairs_canteen", "report_pairs", ["quarter", "canteen_id"])
    op.create_table(
        "report_diners",
        sa.Column("quarter", sa.String(length=6), nullable=False),
        _n("person_id"),
        _n("payments"),
        sa.PrimaryKeyConstraint("quarter", "person_id", name=op.f("pk_report_diners")),
    )
    op.create_table(
        "report_funds",
        sa.Column("quarter", sa.String(length=6), nullable=False),
        _n("distributed_fen"),
        sa.PrimaryKeyConstraint("quarter", name=op.f("pk_report_funds")),
    )


def downgrade() -> None:
    op.drop_index("ix_report_pairs_canteen", table_name="report_pairs")
    for name in (
        "report_funds",
        "report_diners",
        "report_pairs",
        "report_units",
        "report_canteens",
        "report_slots",
        "report_days",
        "report_watermarks",
    ):
        op.drop_table(name)
