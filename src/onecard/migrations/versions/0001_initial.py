"""Initial schema and ledger backstops.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

from onecard.ledger import backstops
from onecard.models import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind)
    backstops.install(bind)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
