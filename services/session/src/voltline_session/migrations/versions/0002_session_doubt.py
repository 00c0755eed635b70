"""Sessions voltline ends itself: when a transaction was last heard of, and whether it is in doubt.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = ("heard_at", "doubt", "doubt_since", "checked_at")


def upgrade() -> None:
    op.add_column("sessions", sa.Column("heard_at", UTCDateTime(), nullable=True))
    op.add_column("sessions", sa.Column("doubt", sa.String(16), nullable=True))
    op.add_column("sessions", sa.Column("doubt_since", UTCDateTime(), nullable=True))
    op.add_column("sessions", sa.Column("checked_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE sessions SET heard_at = updated_at")


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
