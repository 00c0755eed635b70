"""Remote maintenance: bulk commands, configuration profiles, settings stations reported.

Revision ID: 0012_bulk_and_profiles
Revises: 0011_firmware_campaigns
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0012_bulk_and_profiles"
down_revision = "0011_firmware_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_bulk_commands",
        sa.Column("bulk_id", sa.String(36), primary_key=True),
        sa.Column("command", sa.String(48), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("selection", sa.JSON, nullable=False),
        sa.Column("station_ids", sa.JSON, nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "maintenance_config_profiles",
        sa.Column("profile_id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(50), nullable=True),
        sa.Column("station_ids", sa.JSON, nullable=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "maintenance_reported_settings",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("reboot_required", sa.Boolean, nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("maintenance_reported_settings")
    op.drop_table("maintenance_config_profiles")
    op.drop_table("maintenance_bulk_commands")
