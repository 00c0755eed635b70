"""Active sessions as the session service reports them, to notice a session stuck without meter progress.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_sessions",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer),
        sa.Column("connector_id", sa.Integer),
        sa.Column("energy_wh", sa.BigInteger, nullable=False),
        sa.Column("charging_state", sa.String(32)),
        sa.Column("progress_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_health_sessions_progress", "health_sessions", ["charging_state", "progress_at"])


def downgrade() -> None:
    op.drop_table("health_sessions")
