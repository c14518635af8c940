"""Who took a payment at the browser till, and who attested a face there.

Why: the browser till signs every payment as the canteen's one till terminal, so a
payment did not say which cashier took it — and for face pay the cashier's tick
(收银员已核验本人在场) is the liveness verdict, which must be traceable to a person.
``payment_cashiers`` holds one row per payment the till recorded: the cashier and
whether they attested a face. A new table: nothing existing moves; earlier payments
simply have no row.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_cashiers",
        sa.Column("payment_id", BIG_ID, nullable=False),
        sa.Column("cashier_id", BIG_ID, nullable=False),
        sa.Column("face_attested", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_cashiers_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["cashier_id"], ["people.id"], name=op.f("fk_payment_cashiers_cashier_id_people")
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_payment_cashiers")),
    )
    op.create_index(op.f("ix_payment_cashiers_cashier_id"), "payment_cashiers", ["cashier_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_payment_cashiers_cashier_id"), table_name="payment_cashiers")
    op.drop_table("payment_cashiers")
