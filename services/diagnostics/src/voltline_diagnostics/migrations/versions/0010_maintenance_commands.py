"""Remote maintenance: command records, log uploads, security events.

Revision ID: 0010_maintenance_commands
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0010_maintenance_commands"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_commands",
        sa.Column("command_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("command", sa.String(48), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("ocpp_version", sa.String(16), nullable=True),
        sa.Column("action", sa.String(64), nullable=True),
        sa.Column("payload", sa.JSON, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response", sa.JSON, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("reboot_required", sa.Boolean, nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("bulk_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_maintenance_commands_station", "maintenance_commands", ["station_id", "created_at"])
    op.create_index("ix_maintenance_commands_bulk", "maintenance_commands", ["bulk_id"])
    op.create_table(
        "maintenance_log_uploads",
        sa.Column("log_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("log_type", sa.String(16), nullable=False),
        sa.Column("request_id", sa.Integer, nullable=False),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("command_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("station_status", sa.String(48), nullable=True),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("token_expires_at", UTCDateTime(), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_maintenance_log_uploads_station", "maintenance_log_uploads", ["station_id", "created_at"])
    op.create_table(
        "maintenance_security_events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("tech_info", sa.Text, nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_maintenance_security_events_station", "maintenance_security_events", ["station_id", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_table("maintenance_security_events")
    op.drop_table("maintenance_log_uploads")
    op.drop_table("maintenance_commands")
