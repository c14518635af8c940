"""Dining agreements between fund regions, their quarterly clearing statements, and a
version of the fund-region map (issue 17 §2).

Why: a person of fund region A may pay at a canteen of fund region B only under an
agreement their bureaus made; at quarter end a statement says what A owes B, both
bureaus confirm it, and the transfer is booked and paid. The payment path caches the
fund-region map in process; ``interregion_fund_version`` (one row) is bumped by a
trigger on every insert, update or delete of ``regions``, so a cache knows exactly when
it is stale (the version is read with the canteen's row: no extra round trip).

Revision ID: 0031
Revises: 0029
Create Date: 2026-11-30
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0029"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BUMP = "UPDATE interregion_fund_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "interregion_agreements",
        sa.Column("id", BIG, nullable=False),
        sa.Column("region_id", BIG, nullable=False),
        sa.Column("home_region_id", BIG, nullable=False),
        sa.Column("host_region_id", BIG, nullable=False),
        sa.Column("unit_ids", sa.Text(), nullable=True),
        sa.Column("canteen_ids", sa.Text(), nullable=True),
        sa.Column("price_class", sa.String(length=10), nullable=False),
        sa.Column("purse", sa.String(length=14), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("proposed_by", sa.String(length=4), nullable=False),
        sa.Column("host_account_no", sa.String(length=32), nullable=False),
        sa.Column("host_account_name", sa.String(length=60), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "price_class IN ('visitor','own')", name=op.f("ck_interregion_agreements_price_class")
        ),
        sa.CheckConstraint(
            "purse IN ('subsidy','cash','subsidy_first')",
            name=op.f("ck_interregion_agreements_purse"),
        ),
        sa.CheckConstraint(
            "status IN ('proposed','accepted','suspended','ended')",
            name=op.f("ck_interregion_agreements_status"),
        ),
        sa.CheckConstraint(
            "proposed_by IN ('home','host')", name=op.f("ck_interregion_agreements_proposed_by")
        ),
        sa.CheckConstraint(
            "home_region_id <> host_region_id", name=op.f("ck_interregion_agreements_two_regions")
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from",
            name=op.f("ck_interregion_agreements_dates"),
        ),
        sa.ForeignKeyConstraint(["home_region_id"], ["regions.id"]),
        sa.ForeignKeyConstraint(["host_region_id"], ["regions.id"]),
        sa.ForeignKeyConstraint(["region_id"], ["regions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_interregion_agreements_home_region_id"),
        "interregion_agreements",
        ["home_region_id"],
    )
    op.create_index(
        op.f("ix_interregion_agreements_host_region_id"),
        "interregion_agreements",
        ["host_region_id"],
    )
    op.create_table(
        "interregion_statements",
        sa.Column("id", BIG, nullable=False),
        sa.Column("region_id", BIG, nullable=False),
        sa.Column("home_region_id", BIG, nullable=False),
        sa.Column("host_region_id", BIG, nullable=False),
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=14), nullable=False),
        sa.Column("home_confirmed_by", sa.String(length=60), nullable=True),
        sa.Column("home_confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("host_confirmed_by", sa.String(length=60), nullable=True),
        sa.Column("host_confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open','confirmed','booked','paid','payout_failed')",
            name=op.f("ck_interregion_statements_status"),
        ),
        sa.CheckConstraint("gross_fen >= 0", name=op.f("ck_interregion_statements_gross")),
        sa.ForeignKeyConstraint(["home_region_id"], ["regions.id"]),
        sa.ForeignKeyConstraint(["host_region_id"], ["regions.id"]),
        sa.ForeignKeyConstraint(["region_id"], ["regions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "home_region_id",
            "host_region_id",
            "quarter",
            name=op.f("uq_interregion_statements_home_region_id_host_region_id_quarter"),
        ),
    )
    op.create_table(
        "interregion_fund_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # A random start: two databases (say one restored from another lineage's backup under
    # the same URL) do not share versions by accident.
    start = secrets.randbelow(2**40) + 1
    op.execute(f"INSERT INTO interregion_fund_version (id, version) VALUES (1, {start})")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION interregion_bump_fund_version() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER regions_fund_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            "ON regions FOR EACH STATEMENT EXECUTE FUNCTION interregion_bump_fund_version()"
        )
    else:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER regions_fund_version_{event.lower()} AFTER {event} ON regions "
                f"BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER regions_fund_version ON regions")
        op.execute("DROP FUNCTION interregion_bump_fund_version()")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER regions_fund_version_{event}")
    op.drop_table("interregion_fund_version")
    op.drop_table("interregion_statements")
    op.drop_index(
        op.f("ix_interregion_agreements_host_region_id"), table_name="interregion_agreements"
    )
    op.drop_index(
        op.f("ix_interregion_agreements_home_region_id"), table_name="interregion_agreements"
    )
    op.drop_table("interregion_agreements")
