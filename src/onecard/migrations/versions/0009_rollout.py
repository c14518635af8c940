"""Rollout and acceptance: terminal and canteen state machines, the moves' record,
inspections, supervision notices.

Why: a terminal now goes planned → installed → accepted → live (revoked from any) and
pays only when live; a canteen goes planned → inspected → live, live only after a passed
inspection (rollout/states.py). Each move is recorded (``rollout_transitions``), each
acceptance visit (``rollout_inspections``), each urging or praise the bureau sends a
unit (``rollout_notices``).

Existing rows: today's "active" terminals are the ones paying, so they become "live"
(the demo and the benchmark city keep paying); a canteen "installed" (a terminal
registered, not yet live) goes back to "planned": it has had no inspection. The CHECK
constraints change with the values. PostgreSQL drops and adds them; SQLite keeps a
table's CHECK in its stored CREATE statement and cannot alter it, and rebuilding
``terminals`` / ``canteens`` (which many tables reference, with foreign keys on) is what
SQLite's own documentation (ALTER TABLE, "other kinds of table schema changes") says to
avoid for a change that leaves the stored rows valid: the statement's text is rewritten
in ``sqlite_schema`` and the schema version bumped, in the migration's transaction, and
the rows are updated right after to values the new CHECK allows.

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OLD_TERMINAL = "status IN ('planned','installed','active','revoked')"
NEW_TERMINAL = "status IN ('planned','installed','accepted','live','revoked')"
OLD_CANTEEN = "rollout_status IN ('planned','installed','live')"
NEW_CANTEEN = "rollout_status IN ('planned','inspected','live')"


def _swap_check(table: str, name: str, old: str, new: str, *fixes: str) -> None:
    """Replace the CHECK ``old`` by ``new`` and run ``fixes`` (the updates that make every
    row satisfy ``new``) between the two, so no row is ever checked against the wrong one."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for sql in fixes:
            op.execute(sql)
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({new})")
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if old not in sql:
        raise RuntimeError(f"{table}: CHECK ({old}) not found in its CREATE statement")
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
        (sql.replace(old, new), table),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    for sql in fixes:
        op.execute(sql)


def upgrade() -> None:
    _swap_check(
        "terminals",
        "ck_terminals_status",
        OLD_TERMINAL,
        NEW_TERMINAL,
        "UPDATE terminals SET status = 'live' WHERE status = 'active'",
    )
    _swap_check(
        "canteens",
        "ck_canteens_rollout",
        OLD_CANTEEN,
        NEW_CANTEEN,
        "UPDATE canteens SET rollout_status = 'planned' WHERE rollout_status = 'installed'",
    )
    op.create_table(
        "rollout_transitions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subject", sa.String(length=10), nullable=False),
        sa.Column("subject_id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("from_state", sa.String(length=12), nullable=True),
        sa.Column("to_state", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("actor_person_id", BIG_ID, nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "subject IN ('terminal','canteen')", name=op.f("ck_rollout_transitions_subject")
        ),
        sa.ForeignKeyConstraint(
            ["canteen_id"],
            ["canteens.id"],
            name=op.f("fk_rollout_transitions_canteen_id_canteens"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_person_id"],
            ["people.id"],
            name=op.f("fk_rollout_transitions_actor_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_transitions")),
    )
    op.create_index(
        op.f("ix_rollout_transitions_subject_id"), "rollout_transitions", ["subject_id"]
    )
    op.create_index(
        op.f("ix_rollout_transitions_canteen_id"), "rollout_transitions", ["canteen_id"]
    )
    op.create_table(
        "rollout_inspections",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("canteen_id", BIG_ID, nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("inspector", sa.String(length=120), nullable=False),
        sa.Column("inspector_person_id", BIG_ID, nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["canteen_id"],
            ["canteens.id"],
            name=op.f("fk_rollout_inspections_canteen_id_canteens"),
        ),
        sa.ForeignKeyConstraint(
            ["inspector_person_id"],
            ["people.id"],
            name=op.f("fk_rollout_inspections_inspector_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_inspections")),
    )
    op.create_index(
        op.f("ix_rollout_inspections_canteen_id"), "rollout_inspections", ["canteen_id"]
    )
    op.create_table(
        "rollout_notices",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("unit_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=120), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('urge','praise')", name=op.f("ck_rollout_notices_kind")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_rollout_notices_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_notices")),
    )
    op.create_index(op.f("ix_rollout_notices_unit_id"), "rollout_notices", ["unit_id"])


def downgrade() -> None:
    for table in ("rollout_notices", "rollout_inspections", "rollout_transitions"):
        op.drop_table(table)
    _swap_check(
        "canteens",
        "ck_canteens_rollout",
        NEW_CANTEEN,
        OLD_CANTEEN,
        "UPDATE canteens SET rollout_status = 'planned' WHERE rollout_status = 'inspected'",
    )
    _swap_check(
        "terminals",
        "ck_terminals_status",
        NEW_TERMINAL,
        OLD_TERMINAL,
        "UPDATE terminals SET status = 'active' WHERE status = 'live'",
        "UPDATE terminals SET status = 'installed' WHERE status = 'accepted'",
    )
