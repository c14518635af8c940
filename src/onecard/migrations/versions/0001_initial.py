"""Initial schema: organisations, ledger, payments, funding, feedback; ledger backstops.

Explicit DDL (rendered once by Alembic's autogenerate from the models and kept as is):
a migration must not change when a model does. Later schema changes are new revisions;
the ledger backstops it installs are frozen here too (a copy of ``ledger/backstops.py`` as
it was; ``tests/test_migrations.py`` shows any drift from the live ones), never imported.
``tests/test_migrations.py`` fails when the models and the migrated schema drift apart.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The ledger backstops as this revision installs them (frozen copy: see the docstring).
PG = [
    """
    CREATE OR REPLACE FUNCTION onecard_append_only() RETURNS trigger AS $$
    BEGIN
      RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION onecard_append_only()
    """,
    """
    CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION onecard_append_only()
    """,
    """
    CREATE OR REPLACE FUNCTION onecard_entry_balanced() RETURNS trigger AS $$
    DECLARE s bigint; n integer;
    BEGIN
      SELECT coalesce(sum(amount), 0), count(*) INTO s, n FROM postings
        WHERE entry_id = NEW.entry_id;
      IF s <> 0 OR n < 2 THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: % postings sum to %', NEW.entry_id, n, s
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE CONSTRAINT TRIGGER postings_zero_sum AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION onecard_entry_balanced()
    """,
]

SQLITE = [
    """
    CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on journal_entries refused'); END
    """,
    """
    CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE on journal_entries refused'); END
    """,
    """
    CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on postings refused'); END
    """,
    """
    CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE on postings refused'); END
    """,
]


def install_backstops(conn: sa.Connection) -> None:
    for ddl in PG if conn.dialect.name == "postgresql" else SQLITE:
        conn.execute(sa.text(ddl))


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("owner_kind", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("allow_negative", sa.Boolean(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("allow_negative OR balance >= 0", name=op.f("ck_accounts_no_negative")),
        sa.CheckConstraint("cached OR balance = 0", name=op.f("ck_accounts_uncached_zero")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint(
            "owner_kind", "owner_id", "kind", name=op.f("uq_accounts_owner_kind_owner_id_kind")
        ),
    )
    op.create_table(
        "funding_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_audit")),
    )
    op.create_index(op.f("ix_funding_audit_action"), "funding_audit", ["action"], unique=False)
    op.create_table(
        "funding_bank_orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("from_account", sa.String(length=40), nullable=False),
        sa.Column("to_account", sa.String(length=40), nullable=False),
        sa.Column("to_name", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("bank_ref", sa.String(length=64), nullable=True),
        sa.Column("failure_reason", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','succeeded','failed')", name=op.f("ck_funding_bank_orders_status")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_funding_bank_orders_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_bank_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_funding_bank_orders_order_id")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("period", sa.String(length=6), nullable=False),
        sa.Column("booked_at", sa.DateTime(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journal_entries_idempotency_key")),
    )
    op.create_index(op.f("ix_journal_entries_period"), "journal_entries", ["period"], unique=False)
    op.create_table(
        "ledger_periods",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ledger_periods")),
    )
    op.create_table(
        "regions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint("level IN ('city','county','township')", name=op.f("ck_regions_level")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["regions.id"], name=op.f("fk_regions_parent_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    op.create_table(
        "roles",
        sa.Column("code", sa.String(length=30), nullable=False),
        sa.Column("name_zh", sa.String(length=40), nullable=False),
        sa.Column("name_en", sa.String(length=60), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("needs_second_factor", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_roles")),
    )
    op.create_table(
        "postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_postings_nonzero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_postings_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    op.create_index("ix_postings_account", "postings", ["account_id", "entry_id"], unique=False)
    op.create_index("ix_postings_entry", "postings", ["entry_id"], unique=False)
    op.create_table(
        "units",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("bank_account", sa.String(length=40), nullable=True),
        sa.Column("contact", sa.String(length=40), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("default_standard_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("default_standard_fen >= 0", name=op.f("ck_units_std_nonneg")),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_units_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("code", name=op.f("uq_units_code")),
    )
    op.create_index(op.f("ix_units_region_id"), "units", ["region_id"], unique=False)
    op.create_table(
        "canteens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("operation", sa.String(length=12), nullable=False),
        sa.Column("operator_name", sa.String(length=100), nullable=True),
        sa.Column("operator_bank_account", sa.String(length=40), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=40), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("service_staff", sa.Integer(), nullable=False),
        sa.Column("dining_area_m2", sa.Integer(), nullable=False),
        sa.Column("opening_hours", sa.String(length=100), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("serves_visitors", sa.Boolean(), nullable=False),
        sa.Column("serves_guests", sa.Boolean(), nullable=False),
        sa.Column("purse_order", sa.String(length=20), nullable=False),
        sa.Column("rollout_status", sa.String(length=12), nullable=False),
        sa.CheckConstraint(
            "operation = 'self' OR operator_name IS NOT NULL",
            name=op.f("ck_canteens_outsourced_has_operator"),
        ),
        sa.CheckConstraint(
            "operation IN ('self','outsourced')", name=op.f("ck_canteens_operation")
        ),
        sa.CheckConstraint(
            "purse_order IN ('subsidy_first','cash_first')", name=op.f("ck_canteens_purse_order")
        ),
        sa.CheckConstraint(
            "rollout_status IN ('planned','installed','live')", name=op.f("ck_canteens_rollout")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_canteens_region_id_regions")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_canteens_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canteens")),
        sa.UniqueConstraint("code", name=op.f("uq_canteens_code")),
    )
    op.create_index(op.f("ix_canteens_unit_id"), "canteens", ["unit_id"], unique=False)
    op.create_table(
        "funding_notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.Column("amount_due_fen", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=60), nullable=False),
        sa.CheckConstraint("amount_due_fen >= 0", name=op.f("ck_funding_notices_nonneg")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_funding_notices_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_notices")),
        sa.UniqueConstraint("reference", name=op.f("uq_funding_notices_reference")),
        sa.UniqueConstraint("unit_id", "quarter", name=op.f("uq_funding_notices_unit_id_quarter")),
    )
    op.create_index(
        op.f("ix_funding_notices_unit_id"), "funding_notices", ["unit_id"], unique=False
    )
    op.create_table(
        "funding_unit_info",
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("canteens", sa.Integer(), nullable=False),
        sa.Column("service_staff", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("dining_area_m2", sa.Integer(), nullable=False),
        sa.Column("breakfast_fen", sa.BigInteger(), nullable=False),
        sa.Column("lunch_fen", sa.BigInteger(), nullable=False),
        sa.Column("dinner_fen", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=40), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_funding_unit_info_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_funding_unit_info")),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("staff_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("standard_fen", sa.BigInteger(), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("bank_card_no", sa.String(length=32), nullable=True),
        sa.Column("paycode_token", sa.String(length=8), nullable=False),
        sa.Column("paycode_secret", sa.String(length=64), nullable=False),
        sa.Column("paycode_last_step", sa.BigInteger(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "category IN ('staff','contract','retired','guest')", name=op.f("ck_people_category")
        ),
        sa.CheckConstraint("status IN ('active','left')", name=op.f("ck_people_status")),
        sa.CheckConstraint("standard_fen >= 0", name=op.f("ck_people_std_nonneg")),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_people_region_id_regions")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_people_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("paycode_token", name=op.f("uq_people_paycode_token")),
        sa.UniqueConstraint("staff_no", name=op.f("uq_people_staff_no")),
    )
    op.create_index(op.f("ix_people_unit_id"), "people", ["unit_id"], unique=False)
    op.create_table(
        "cards",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("card_no", sa.String(length=20), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(), nullable=True),
        sa.Column(
            "replaces_card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint("status IN ('active','lost','cancelled')", name=op.f("ck_cards_status")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_cards_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_card_id"], ["cards.id"], name=op.f("fk_cards_replaces_card_id_cards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint("card_no", name=op.f("uq_cards_card_no")),
    )
    op.create_index(op.f("ix_cards_person_id"), "cards", ["person_id"], unique=False)
    op.create_table(
        "funding_quality_bands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("min_score", sa.Integer(), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "min_score >= 0 AND min_score <= 100", name=op.f("ck_funding_quality_bands_score")
        ),
        sa.CheckConstraint(
            "share_bp >= 0 AND share_bp <= 10000", name=op.f("ck_funding_quality_bands_share")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"],
            ["canteens.id"],
            name=op.f("fk_funding_quality_bands_canteen_id_canteens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_quality_bands")),
        sa.UniqueConstraint(
            "canteen_id", "min_score", name=op.f("uq_funding_quality_bands_canteen_id_min_score")
        ),
    )
    op.create_index(
        op.f("ix_funding_quality_bands_canteen_id"),
        "funding_quality_bands",
        ["canteen_id"],
        unique=False,
    )
    op.create_table(
        "funding_quality_scores",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=60), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "score >= 0 AND score <= 100", name=op.f("ck_funding_quality_scores_score")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"],
            ["canteens.id"],
            name=op.f("fk_funding_quality_scores_canteen_id_canteens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_quality_scores")),
        sa.UniqueConstraint(
            "canteen_id", "quarter", name=op.f("uq_funding_quality_scores_canteen_id_quarter")
        ),
    )
    op.create_index(
        op.f("ix_funding_quality_scores_canteen_id"),
        "funding_quality_scores",
        ["canteen_id"],
        unique=False,
    )
    op.create_table(
        "funding_receipts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("bank_serial", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("counterparty_name", sa.String(length=100), nullable=False),
        sa.Column("counterparty_account", sa.String(length=40), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("transfer_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_funding_receipts_positive")),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["funding_notices.id"],
            name=op.f("fk_funding_receipts_notice_id_funding_notices"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_funding_receipts_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_receipts")),
        sa.UniqueConstraint("bank_serial", name=op.f("uq_funding_receipts_bank_serial")),
    )
    op.create_index(
        op.f("ix_funding_receipts_notice_id"), "funding_receipts", ["notice_id"], unique=False
    )
    op.create_index(
        op.f("ix_funding_receipts_unit_id"), "funding_receipts", ["unit_id"], unique=False
    )
    op.create_table(
        "funding_settlements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("withheld_fen", sa.BigInteger(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=False),
        sa.Column("settled_by", sa.String(length=60), nullable=False),
        sa.CheckConstraint(
            "fee_fen >= 0 AND withheld_fen >= 0 AND net_fen >= 0",
            name=op.f("ck_funding_settlements_nonneg"),
        ),
        sa.CheckConstraint(
            "gross_fen = fee_fen + withheld_fen + net_fen",
            name=op.f("ck_funding_settlements_parts_sum"),
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_funding_settlements_canteen_id_canteens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_settlements")),
        sa.UniqueConstraint(
            "canteen_id", "quarter", name=op.f("uq_funding_settlements_canteen_id_quarter")
        ),
    )
    op.create_index(
        op.f("ix_funding_settlements_canteen_id"),
        "funding_settlements",
        ["canteen_id"],
        unique=False,
    )
    op.create_table(
        "items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sku", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("market_price_fen", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind = 'dish' OR (market_price_fen IS NOT NULL AND price_fen <= market_price_fen)",
            name=op.f("ck_items_price_cap"),
        ),
        sa.CheckConstraint("kind IN ('dish','goods')", name=op.f("ck_items_kind")),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_items_positive")),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_items_canteen_id_canteens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("canteen_id", "sku", name=op.f("uq_items_canteen_id_sku")),
    )
    op.create_index(op.f("ix_items_canteen_id"), "items", ["canteen_id"], unique=False)
    op.create_table(
        "meal_periods",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.Column("per_person_limit", sa.Integer(), nullable=False),
        sa.CheckConstraint("per_person_limit >= 0", name=op.f("ck_meal_periods_limit_nonneg")),
        sa.CheckConstraint("starts < ends", name=op.f("ck_meal_periods_window")),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_meal_periods_canteen_id_canteens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meal_periods")),
        sa.UniqueConstraint("canteen_id", "code", name=op.f("uq_meal_periods_canteen_id_code")),
    )
    op.create_index(
        op.f("ix_meal_periods_canteen_id"), "meal_periods", ["canteen_id"], unique=False
    )
    op.create_table(
        "role_grants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("role_code", sa.String(length=30), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_role_grants_canteen_id_canteens")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_role_grants_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["role_code"], ["roles.code"], name=op.f("fk_role_grants_role_code_roles")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_role_grants_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grants")),
        sa.UniqueConstraint(
            "person_id",
            "role_code",
            "unit_id",
            "canteen_id",
            name=op.f("uq_role_grants_person_id_role_code_unit_id_canteen_id"),
        ),
    )
    op.create_index(op.f("ix_role_grants_person_id"), "role_grants", ["person_id"], unique=False)
    op.create_table(
        "terminals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "region_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('planned','installed','active','revoked')", name=op.f("ck_terminals_status")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_terminals_canteen_id_canteens")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_terminals_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminals")),
        sa.UniqueConstraint("code", name=op.f("uq_terminals_code")),
    )
    op.create_index(op.f("ix_terminals_canteen_id"), "terminals", ["canteen_id"], unique=False)
    op.create_table(
        "topup_orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("card_no", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("bank_ref", sa.String(length=64), nullable=True),
        sa.Column("failure_reason", sa.String(length=100), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','succeeded','failed')", name=op.f("ck_topup_orders_status")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_topup_orders_positive")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_topup_orders_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topup_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_topup_orders_order_id")),
    )
    op.create_index(op.f("ix_topup_orders_person_id"), "topup_orders", ["person_id"], unique=False)
    op.create_table(
        "meal_prices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "meal_period_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("diner_class", sa.String(length=10), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "diner_class IN ('own','visitor','guest')", name=op.f("ck_meal_prices_class")
        ),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_meal_prices_positive")),
        sa.ForeignKeyConstraint(
            ["meal_period_id"],
            ["meal_periods.id"],
            name=op.f("fk_meal_prices_meal_period_id_meal_periods"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meal_prices")),
        sa.UniqueConstraint(
            "meal_period_id", "diner_class", name=op.f("uq_meal_prices_meal_period_id_diner_class")
        ),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "terminal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("txn_id", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("refusal_code", sa.String(length=40), nullable=True),
        sa.Column("canteen_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("home_unit_id", sa.BigInteger(), nullable=True),
        sa.Column("credential_kind", sa.String(length=10), nullable=False),
        sa.Column("meal_period_id", sa.BigInteger(), nullable=True),
        sa.Column("diner_class", sa.String(length=10), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("cash_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "status = 'refused' OR amount_fen = subsidy_fen + cash_fen",
            name=op.f("ck_payments_split_sums"),
        ),
        sa.CheckConstraint(
            "status IN ('approved','refused','reversed')", name=op.f("ck_payments_status")
        ),
        sa.CheckConstraint(
            "amount_fen >= 0 AND subsidy_fen >= 0 AND cash_fen >= 0",
            name=op.f("ck_payments_nonneg"),
        ),
        sa.CheckConstraint("refunded_fen <= amount_fen", name=op.f("ck_payments_refund_cap")),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_payments_terminal_id_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("terminal_id", "txn_id", name=op.f("uq_payments_terminal_id_txn_id")),
    )
    op.create_index(
        "ix_payments_canteen_day", "payments", ["canteen_id", "business_date"], unique=False
    )
    op.create_index(
        "ix_payments_person_day", "payments", ["person_id", "business_date"], unique=False
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "canteen_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("taste", sa.Integer(), nullable=False),
        sa.Column("hygiene", sa.Integer(), nullable=False),
        sa.Column("service", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("hygiene BETWEEN 1 AND 5", name=op.f("ck_ratings_hygiene_stars")),
        sa.CheckConstraint("service BETWEEN 1 AND 5", name=op.f("ck_ratings_service_stars")),
        sa.CheckConstraint("taste BETWEEN 1 AND 5", name=op.f("ck_ratings_taste_stars")),
        sa.CheckConstraint("value BETWEEN 1 AND 5", name=op.f("ck_ratings_value_stars")),
        sa.ForeignKeyConstraint(
            ["canteen_id"], ["canteens.id"], name=op.f("fk_ratings_canteen_id_canteens")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ratings_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_ratings_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_ratings_payment_id")),
    )
    op.create_index(op.f("ix_ratings_canteen_id"), "ratings", ["canteen_id"], unique=False)
    op.create_index(op.f("ix_ratings_person_id"), "ratings", ["person_id"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("cash_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_refunds_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("request_id", name=op.f("uq_refunds_request_id")),
    )
    op.create_index(op.f("ix_refunds_payment_id"), "refunds", ["payment_id"], unique=False)
    install_backstops(op.get_bind())


def downgrade() -> None:
    op.drop_table("refunds")
    op.drop_table("ratings")
    op.drop_table("payments")
    op.drop_table("meal_prices")
    op.drop_table("topup_orders")
    op.drop_table("terminals")
    op.drop_table("role_grants")
    op.drop_table("meal_periods")
    op.drop_table("items")
    op.drop_table("funding_settlements")
    op.drop_table("funding_receipts")
    op.drop_table("funding_quality_scores")
    op.drop_table("funding_quality_bands")
    op.drop_table("cards")
    op.drop_table("people")
    op.drop_table("funding_unit_info")
    op.drop_table("funding_notices")
    op.drop_table("canteens")
    op.drop_table("units")
    op.drop_table("postings")
    op.drop_table("roles")
    op.drop_table("regions")
    op.drop_table("ledger_periods")
    op.drop_table("journal_entries")
    op.drop_table("funding_bank_orders")
    op.drop_table("funding_audit")
    op.drop_table("accounts")
