"""An ALTER that SQLite can only do in batch mode (adding a NOT NULL column with a default, then a check)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("vendor", sa.String(64), nullable=False, server_default="unknown"))
        batch.alter_column("status", type_=sa.String(64), existing_type=sa.String(32), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.alter_column("status", type_=sa.String(32), existing_type=sa.String(64), existing_nullable=False)
        batch.drop_column("vendor")
