"""A port's live row is rewritten at each of its status changes: without an index on `status` (only the fleet
list's filter used it, and that one asks per station, by the primary key) and with room left on each page
(fillfactor 80 on PostgreSQL), the rewrite is a HOT update, on the row's page, touching no index. A station's
row is touched (`last_seen_at`) at nearly every batch that hears it: with pages packed full only ~11 % of those
updates found room on their page (HOT), ~87 % with fillfactor 80.

Revision ID: 0021_ports_hot
Revises: 0020_history_closes_hot
Create Date: 2026-12-06
"""

from alembic import op

revision = "0021_ports_hot"
down_revision = "0020_history_closes_hot"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_health_connectors_status", table_name="health_connectors")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE health_connectors SET (fillfactor = 80)")
        op.execute("ALTER TABLE health_stations SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE health_stations RESET (fillfactor)")
        op.execute("ALTER TABLE health_connectors RESET (fillfactor)")
    op.create_index("ix_health_connectors_status", "health_connectors", ["status"])
