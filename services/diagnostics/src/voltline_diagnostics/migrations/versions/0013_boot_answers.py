"""What a station was answered at boot (status; the heartbeat interval is the existing column), and its
authorisations not yet followed by a transaction (the `authorized_not_started` rule).

Revision ID: 0013_boot_answers
Revises: 0012_bulk_and_profiles
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0013_boot_answers"
down_revision = "0012_bulk_and_profiles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("health_stations") as table:
        table.add_column(sa.Column("boot_status", sa.String(16)))
        table.add_column(sa.Column("authorized_at", UTCDateTime()))
        table.add_column(sa.Column("unused_authorizations", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_health_stations_authorized", "health_stations", ["authorized_at"])


def downgrade() -> None:
    op.drop_index("ix_health_stations_authorized", table_name="health_stations")
    with op.batch_alter_table("health_stations") as table:
        table.drop_column("unused_authorizations")
        table.drop_column("authorized_at")
        table.drop_column("boot_status")
