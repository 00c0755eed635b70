"""Station registry and the outbox/inbox tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime
from voltline_store.outbox import create_outbox_tables_op, drop_outbox_tables_op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("security_profile", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stations_status", "stations", ["status"])
    create_outbox_tables_op()


def downgrade() -> None:
    drop_outbox_tables_op()
    op.drop_table("stations")
