"""A city role held for one region and those below it (issue 17 §1).

Why: the bureau of a county administers only its county and its townships; finance and
auditors may likewise read one region's subtree. ``role_grants.region_id`` is NULL for a
grant over the whole deployment (every grant there was before), so nothing changes for an
existing city.

Revision ID: 0028
Revises: 0031
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A batch on SQLite (it cannot add a foreign key to a table); plain ALTERs elsewhere.
    with op.batch_alter_table("role_grants") as batch:
        batch.add_column(
            sa.Column(
                "region_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.create_foreign_key(
            op.f("fk_role_grants_region_id_regions"), "regions", ["region_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("role_grants") as batch:
        batch.drop_constraint(op.f("fk_role_grants_region_id_regions"), type_="foreignkey")
        batch.drop_column("region_id")
