"""Partners of the open API (R-I3): partner systems, their sealed HMAC secrets, nonces.

Why: other systems (another city's platform, a bank's e-meal card) call the partner API
with a client id and a secret, signing each request with HMAC-SHA256 (``partners``).
The secret must be on the server to check a signature, so it is kept sealed with
AES-256-GCM (``partner_credentials.sealed_secret``), not hashed; several credentials per
partner let a rotation keep the old one valid for a grace period (``expires_at``). Each
nonce used is remembered for the timestamp window so a replayed request is refused
(``partner_nonces``, unique per partner).

Revision ID: 0019
Revises: 0017
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("client_id", name=op.f("uq_partners_client_id")),
    )
    op.create_table(
        "partner_credentials",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("partner_id", BIG_ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_credentials_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_credentials")),
        sa.UniqueConstraint(
            "partner_id", "number", name=op.f("uq_partner_credentials_partner_id_number")
        ),
    )
    op.create_index(
        op.f("ix_partner_credentials_partner_id"),
        "partner_credentials",
        ["partner_id"],
        unique=False,
    )
    op.create_table(
        "partner_nonces",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("partner_id", BIG_ID, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_partner_nonces_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_nonces")),
        sa.UniqueConstraint("partner_id", "nonce", name=op.f("uq_partner_nonces_partner_id_nonce")),
    )
    op.create_index(op.f("ix_partner_nonces_seen_at"), "partner_nonces", ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_partner_nonces_seen_at"), table_name="partner_nonces")
    op.drop_table("partner_nonces")
    op.drop_index(op.f("ix_partner_credentials_partner_id"), table_name="partner_credentials")
    op.drop_table("partner_credentials")
    op.drop_table("partners")
