"""The dashboard's day charts and subsidy figures per region (issue 17 §1).

Why: a regional bureau's dashboard counts only its subtree, but three roll-ups had no
place to say where a meal or a subsidy belonged: the daily chart read ``report_days``
(per day), the rush chart ``report_slots`` (per day × five minutes) and the subsidy
figures ``report_funds`` (per quarter). So ``report_meal_days`` (per day × canteen ×
meal) gains the net amount, a new ``report_canteen_slots`` holds the lunch window's
payments per day × canteen × five minutes, and ``report_diners`` (per quarter × person)
gains the subsidy the person spent and the subsidy distributed to them; a region's
figures are then those of its canteens (meals) and its people (subsidy), read by id as
the other regional figures are. The roll-ups are derived data: they are emptied with
their watermarks so the next ``reports.service.catch_up`` folds everything into them
alike (on a large deployment: ``onecard reports catch-up --now`` at a quiet hour).

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

ROLLUPS = (
    "report_days",
    "report_slots",
    "report_canteen_slots",
    "report_canteens",
    "report_units",
    "report_pairs",
    "report_diners",
    "report_funds",
    "report_meals",
    "report_meal_days",
    "report_watermarks",
)


def _empty(tables: tuple[str, ...]) -> None:
    for table in tables:  # derived data: the next catch_up folds everything again
        op.execute(sa.text(f"DELETE FROM {table}"))


def _sum(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "report_canteen_slots",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("canteen_id", sa.BigInteger(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "business_date", "canteen_id", "slot", name=op.f("pk_report_canteen_slots")
        ),
    )
    op.add_column("report_meal_days", _sum("amount_fen"))
    op.add_column("report_diners", _sum("subsidy_fen"))
    op.add_column("report_diners", _sum("distributed_fen"))
    _empty(ROLLUPS)


def downgrade() -> None:
    with op.batch_alter_table("report_diners") as batch:
        batch.drop_column("distributed_fen")
        batch.drop_column("subsidy_fen")
    with op.batch_alter_table("report_meal_days") as batch:
        batch.drop_column("amount_fen")
    op.drop_table("report_canteen_slots")
    _empty(tuple(t for t in ROLLUPS if t != "report_canteen_slots"))
