"""Remote maintenance: firmware catalogue, campaigns and their stations, what each station runs.

Revision ID: 0011_firmware_campaigns
Revises: 0010_maintenance_commands
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0011_firmware_campaigns"
down_revision = "0010_maintenance_commands"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_firmware",
        sa.Column("firmware_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("vendor", sa.String(50), nullable=True),
        sa.Column("model", sa.String(50), nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("signing_certificate", sa.Text, nullable=True),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "maintenance_campaigns",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("firmware_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("canary_size", sa.Integer, nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("failure_threshold_percent", sa.Numeric(5, 2), nullable=False),
        sa.Column("min_finished", sa.Integer, nullable=False),
        sa.Column("station_timeout_s", sa.Integer, nullable=False),
        sa.Column("force", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "maintenance_campaign_targets",
        sa.Column("campaign_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("batch", sa.Integer, nullable=True),
        sa.Column("request_id", sa.Integer, nullable=True),
        sa.Column("command_id", sa.String(36), nullable=True),
        sa.Column("from_version", sa.String(50), nullable=True),
        sa.Column("last_status", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_maintenance_campaign_targets_station", "maintenance_campaign_targets", ["station_id", "state"]
    )
    op.create_table(
        "maintenance_station_firmware",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("vendor", sa.String(50), nullable=True),
        sa.Column("model", sa.String(50), nullable=True),
        sa.Column("firmware_version", sa.String(50), nullable=True),
        sa.Column("booted_at", UTCDateTime(), nullable=True),
        sa.Column("connectors", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("maintenance_station_firmware")
    op.drop_table("maintenance_campaign_targets")
    op.drop_table("maintenance_campaigns")
    op.drop_table("maintenance_firmware")
