"""The audit trail becomes one append-only, hash-chained table; payment codes can be
rotated.

- ``audit_events`` (every change a person makes, every sign-in) and ``audit_chain`` (its
  head), with their backstops: events refuse UPDATE and DELETE, the head only moves
  forward (``onecard.audit.backstops``), on SQLite and PostgreSQL.
- The money runs' old ``funding_audit`` rows move into the chain, oldest first (kind
  from their action, origin unknown: ""), and the old table is dropped.
- ``paycode_retired_tokens``: the tokens of rotated payment-code secrets, so a code made
  with an old secret is refused as ``code_revoked``.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from onecard.audit import backstops

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

events = sa.table(
    "audit_events",
    sa.column("at", sa.DateTime()),
    *(
        sa.column(c)
        for c in (
            "seq",
            "actor",
            "actor_person_id",
            "origin",
            "kind",
            "action",
            "unit_id",
            "person_id",
            "target",
            "before",
            "after",
            "data",
            "prev_hash",
            "hash",
        )
    ),
)
head = sa.table("audit_chain", sa.column("id"), sa.column("seq"), sa.column("hash"))
old = sa.table(
    "funding_audit",
    sa.column("id"),
    sa.column("at", sa.DateTime()),
    sa.column("actor"),
    sa.column("action"),
    sa.column("scope"),
    sa.column("totals"),
)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_person_id", sa.BigInteger(), nullable=True),
        sa.Column("origin", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("person_id", sa.BigInteger(), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq > 0", name=op.f("ck_audit_events_seq_positive")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"], unique=False)
    op.create_index("ix_audit_events_kind_at", "audit_events", ["kind", "at"], unique=False)
    op.create_index("ix_audit_events_unit_at", "audit_events", ["unit_id", "at"], unique=False)
    op.create_index("ix_audit_events_person", "audit_events", ["person_id"], unique=False)
    op.create_index(
        "ix_audit_events_actor_person", "audit_events", ["actor_person_id"], unique=False
    )
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    op.create_table(
        "paycode_retired_tokens",
        sa.Column("token", sa.String(length=8), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_paycode_retired_tokens_person_id_people")
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_paycode_retired_tokens")),
    )
    op.create_index(
        op.f("ix_paycode_retired_tokens_person_id"),
        "paycode_retired_tokens",
        ["person_id"],
        unique=False,
    )
    _move_funding_audit()
    op.drop_index(op.f("ix_funding_audit_action"), table_name="funding_audit")
    op.drop_table("funding_audit")
    backstops.install(op.get_bind())


def _move_funding_audit() -> None:
    """The old records, oldest first, become the first links of the chain."""
    from onecard.audit.service import GENESIS, chain_rows, kind_for_action

    bind = op.get_bind()
    rows = bind.execute(sa.select(old).order_by(old.c.id)).all()
    chained = chain_rows(
        0,
        GENESIS,
        [
            {
                "at": r.at,
                "actor": r.actor,
                "actor_person_id": None,
                "origin": "",
                "kind": kind_for_action(r.action),
                "action": r.action,
                "unit_id": None,
                "person_id": None,
                "target": r.scope,
                "before": None,
                "after": None,
                "data": r.totals,
            }
            for r in rows
        ],
    )
    if chained:
        bind.execute(events.insert(), chained)
    last = chained[-1] if chained else {"seq": 0, "hash": GENESIS}
    bind.execute(head.insert().values(id=1, seq=last["seq"], hash=last["hash"]))


def downgrade() -> None:
    backstops.remove(op.get_bind())
    op.create_table(
        "funding_audit",
        sa.Column("id", BigId, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("totals", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_audit")),
    )
    op.create_index(op.f("ix_funding_audit_action"), "funding_audit", ["action"], unique=False)
    bind = op.get_bind()
    back = bind.execute(sa.select(events).order_by(events.c.seq)).all()
    if back:
        bind.execute(
            old.insert(),
            [
                {
                    "id": r.seq,
                    "at": r.at,
                    "actor": r.actor[:60],
                    "action": r.action,
                    "scope": r.target[:100],
                    "totals": r.data or "{}",
                }
                for r in back
            ],
        )
    op.drop_index(op.f("ix_paycode_retired_tokens_person_id"), table_name="paycode_retired_tokens")
    op.drop_table("paycode_retired_tokens")
    op.drop_table("audit_chain")
    for name in (
        "ix_audit_events_actor_person",
        "ix_audit_events_person",
        "ix_audit_events_unit_at",
        "ix_audit_events_kind_at",
        "ix_audit_events_at",
    ):
        op.drop_index(name, table_name="audit_events")
    op.drop_table("audit_events")
