"""Account codes: activation codes (a person's way in) and the demo's second-factor skip.

Why: only the demo's six people could ever sign in — imported staff get no password and
nothing could set, reset or unlock one. A unit admin (or the bureau) now issues each
person a one-time activation code; the person chooses a password with it at /activate
(``web.account_activation``). The demo also prints a code that stands in for an authenticator
code, so a tester needs no authenticator app; it is refused in production.

``account_codes`` holds at most one live code of each kind per person, stored as an
HMAC (never the code); a new code replaces the old, a used one is deleted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "account_codes",
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=60), nullable=False),
        sa.CheckConstraint(
            "kind IN ('activation','demo_skip')", name=op.f("ck_account_codes_kind")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_account_codes_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", "kind", name=op.f("pk_account_codes")),
    )


def downgrade() -> None:
    op.drop_table("account_codes")
