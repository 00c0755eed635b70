"""Partial indexes on the open status and presence intervals: a batch closes a port's (a station's) open interval
with `... AND ended_at IS NULL`, which the history indexes answered by visiting every interval the port ever had
(a history grows by one row per status change, for years).

Revision ID: 0019_open_intervals
Revises: 0018_locations
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_open_intervals"
down_revision = "0018_locations"
branch_labels = None
depends_on = None

_OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_health_status_history_open",
        "health_status_history",
        ["station_id", "evse_id", "connector_id"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )
    op.create_index(
        "ix_health_presence_history_open",
        "health_presence_history",
        ["station_id"],
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_health_presence_history_open", table_name="health_presence_history")
    op.drop_index("ix_health_status_history_open", table_name="health_status_history")
