"""the time of a station's newest connect or disconnect and of a port's newest report (ADR 0038)

An older one read after them (a broker that restarted empty was given the newest first) changes nothing. Rows
that exist start from `since` (when their current state began).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 09:10:00
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as table:
        table.add_column(sa.Column("presence_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("ports") as table:
        table.add_column(sa.Column("reported_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE stations SET presence_at = since")
    op.execute("UPDATE ports SET reported_at = since")


def downgrade() -> None:
    with op.batch_alter_table("ports") as table:
        table.drop_column("reported_at")
    with op.batch_alter_table("stations") as table:
        table.drop_column("presence_at")
