"""Health: live status, status and presence history, boots, alerts, webhooks, uptime exclusions, inventory.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(36), primary_key=True),
        sa.Column("open_key", sa.String(400), unique=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer),
        sa.Column("connector_id", sa.Integer),
        sa.Column("subject", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("resolved_by", sa.String(128)),
        sa.Column("note", sa.Text),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_alerts_station_status", "alerts", ["station_id", "status"])
    op.create_index("ix_alerts_status_opened", "alerts", ["status", "opened_at"])
    op.create_table(
        "device_variables",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("component", sa.String(50), nullable=False),
        sa.Column("component_instance", sa.String(50)),
        sa.Column("evse_id", sa.Integer),
        sa.Column("connector_id", sa.Integer),
        sa.Column("variable", sa.String(50), nullable=False),
        sa.Column("variable_instance", sa.String(50)),
        sa.Column("attribute_type", sa.String(16), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("mutability", sa.String(16)),
        sa.Column("data_type", sa.String(32)),
        sa.Column("unit", sa.String(32)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "health_boots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(64)),
    )
    op.create_index("ix_health_boots_station", "health_boots", ["station_id", "at"])
    op.create_table(
        "health_connectors",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("connector_id", sa.Integer, primary_key=True),
        sa.Column("ocpp_status", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("vendor_error_code", sa.String(64)),
        sa.Column("info", sa.String(255)),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.Column("short_sessions", sa.Integer, nullable=False),
    )
    op.create_index("ix_health_connectors_status", "health_connectors", ["status"])
    op.create_table(
        "health_presence_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
    )
    op.create_index("ix_health_presence_history_station", "health_presence_history", ["station_id", "started_at"])
    op.create_table(
        "health_stations",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("ocpp_version", sa.String(16)),
        sa.Column("heartbeat_interval_s", sa.Integer),
        sa.Column("unresponsive", sa.Boolean, nullable=False),
        sa.Column("unresponsive_since", UTCDateTime()),
        sa.Column("last_boot_at", UTCDateTime()),
        sa.Column("boot_reason", sa.String(64)),
        sa.Column("vendor", sa.String(50)),
        sa.Column("model", sa.String(50)),
        sa.Column("serial_number", sa.String(64)),
        sa.Column("firmware_version", sa.String(64)),
        sa.Column("modem", sa.JSON),
        sa.Column("meter", sa.JSON),
        sa.Column("report_requested_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_health_stations_model", "health_stations", ["model"])
    op.create_index("ix_health_stations_firmware", "health_stations", ["firmware_version"])
    op.create_table(
        "health_status_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ocpp_status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
    )
    op.create_index("ix_health_status_history_port", "health_status_history", ["station_id", "evse_id", "connector_id", "started_at"])
    op.create_table(
        "uptime_exclusions",
        sa.Column("exclusion_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer),
        sa.Column("connector_id", sa.Integer),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_by", sa.String(128)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_uptime_exclusions_station", "uptime_exclusions", ["station_id", "starts_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(36), primary_key=True),
        sa.Column("webhook_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.String(36)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.String(500)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime()),
    )
    op.create_index("ix_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "created_at"])
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(36), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("severities", sa.JSON, nullable=False),
        sa.Column("station_ids", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(128)),
    )


def downgrade() -> None:
    op.drop_table("webhooks")
    op.drop_table("webhook_deliveries")
    op.drop_table("uptime_exclusions")
    op.drop_table("health_status_history")
    op.drop_table("health_stations")
    op.drop_table("health_presence_history")
    op.drop_table("health_connectors")
    op.drop_table("health_boots")
    op.drop_table("device_variables")
    op.drop_table("alerts")
