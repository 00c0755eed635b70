"""A port's open status interval is closed by its start (`started_at`, the port's `since`) through the port index,
so the close no longer needs the partial index on open intervals (migration 0019): an index whose predicate names
`ended_at` made every close a non-HOT update (a new entry in every index of the table). Without it, and with room
left on each page (fillfactor 70 on PostgreSQL), setting `ended_at` stays on the row's page and touches no index.

Revision ID: 0020_history_closes_hot
Revises: 0019_open_intervals
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_history_closes_hot"
down_revision = "0019_open_intervals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_health_status_history_open", table_name="health_status_history")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE health_status_history SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE health_status_history RESET (fillfactor)")
    _open = sa.text("ended_at IS NULL")
    op.create_index(
        "ix_health_status_history_open",
        "health_status_history",
        ["station_id", "evse_id", "connector_id"],
        postgresql_where=_open,
        sqlite_where=_open,
    )
