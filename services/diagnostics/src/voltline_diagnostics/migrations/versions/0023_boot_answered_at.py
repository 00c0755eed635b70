"""The times of the boot answers a station's registration holds (ADR 0038, amended in session 11): the answer
that set `boot_status`, and the Accepted one that set `heartbeat_interval_s`; an older answer read after them
changes nothing. Existing stations start from their last boot (an answer is never older than its boot).

Revision ID: 0023_boot_answered_at
Revises: 0022_presence_at
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0023_boot_answered_at"
down_revision = "0022_presence_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("health_stations") as table:
        table.add_column(sa.Column("boot_answered_at", UTCDateTime()))
        table.add_column(sa.Column("heartbeat_interval_at", UTCDateTime()))
    op.execute("UPDATE health_stations SET boot_answered_at = last_boot_at WHERE boot_status IS NOT NULL")
    op.execute("UPDATE health_stations SET heartbeat_interval_at = last_boot_at WHERE heartbeat_interval_s IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("health_stations") as table:
        table.drop_column("heartbeat_interval_at")
        table.drop_column("boot_answered_at")
