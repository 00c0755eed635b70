"""A test service's first migration: the outbox/inbox plus its own state tables."""

import sqlalchemy as sa
from alembic import op

from voltline_store import create_outbox_tables_op, drop_outbox_tables_op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_tables_op()
    op.create_table(
        "stations",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "effects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id"), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("effects")
    op.drop_table("stations")
    drop_outbox_tables_op()
