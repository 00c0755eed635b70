"""The time of the newest connect or disconnect applied to a station's link (ADR 0038): an older one read
after it changes nothing. Existing stations start from `since` (when their current link state began).

Revision ID: 0022_presence_at
Revises: 0021_ports_hot
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0022_presence_at"
down_revision = "0021_ports_hot"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("health_stations") as table:
        table.add_column(sa.Column("presence_at", UTCDateTime()))
    op.execute("UPDATE health_stations SET presence_at = since")


def downgrade() -> None:
    with op.batch_alter_table("health_stations") as table:
        table.drop_column("presence_at")
