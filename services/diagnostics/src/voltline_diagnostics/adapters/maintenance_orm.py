"""Tables of remote maintenance: command records (the audit log), log uploads, security events."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, MetaData, Numeric, String, Table, Text
from voltline_store import UTCDateTime

metadata = MetaData()

commands = Table(
    "maintenance_commands",
    metadata,
    Column("command_id", String(36), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("command", String(48), nullable=False),
    Column("params", JSON, nullable=False),
    Column("ocpp_version", String(16), nullable=True),
    Column("action", String(64), nullable=True),
    Column("payload", JSON, nullable=True),
    Column("status", String(16), nullable=False),
    Column("response", JSON, nullable=True),
    Column("detail", Text, nullable=True),
    Column("reboot_required", Boolean, nullable=False, default=False),
    Column("requested_by", String(255), nullable=False),
    Column("bulk_id", String(36), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("answered_at", UTCDateTime(), nullable=True),
    Index("ix_maintenance_commands_station", "station_id", "created_at"),
    Index("ix_maintenance_commands_bulk", "bulk_id"),
)

log_uploads = Table(
    "maintenance_log_uploads",
    metadata,
    Column("log_id", String(36), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("log_type", String(16), nullable=False),
    Column("request_id", Integer, nullable=False),
    Column("transport", String(8), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("command_id", String(36), nullable=True),
    Column("status", String(24), nullable=False),
    Column("station_status", String(48), nullable=True),
    Column("file_name", String(255), nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("requested_by", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("token_expires_at", UTCDateTime(), nullable=False),
    Column("uploaded_at", UTCDateTime(), nullable=True),
    Index("ix_maintenance_log_uploads_station", "station_id", "created_at"),
)

security_events = Table(
    "maintenance_security_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("type", String(64), nullable=False),
    Column("tech_info", Text, nullable=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Index("ix_maintenance_security_events_station", "station_id", "occurred_at"),
)

firmware_images = Table(
    "maintenance_firmware",
    metadata,
    Column("firmware_id", String(64), primary_key=True),
    Column("version", String(50), nullable=False),
    Column("vendor", String(50), nullable=True),
    Column("model", String(50), nullable=True),
    Column("url", Text, nullable=True),
    Column("file_name", String(255), nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("signing_certificate", Text, nullable=True),
    Column("signature", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

campaigns = Table(
    "maintenance_campaigns",
    metadata,
    Column("campaign_id", String(36), primary_key=True),
    Column("firmware_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("canary_size", Integer, nullable=False),
    Column("batch_size", Integer, nullable=False),
    Column("failure_threshold_percent", Numeric(5, 2), nullable=False),
    Column("min_finished", Integer, nullable=False),
    Column("station_timeout_s", Integer, nullable=False),
    Column("force", Boolean, nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

campaign_targets = Table(
    "maintenance_campaign_targets",
    metadata,
    Column("campaign_id", String(36), primary_key=True),
    Column("station_id", String(48), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("batch", Integer, nullable=True),
    Column("request_id", Integer, nullable=True),
    Column("command_id", String(36), nullable=True),
    Column("from_version", String(50), nullable=True),
    Column("last_status", String(32), nullable=True),
    Column("reason", Text, nullable=True),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Index("ix_maintenance_campaign_targets_station", "station_id", "state"),
)

station_firmware = Table(
    "maintenance_station_firmware",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("vendor", String(50), nullable=True),
    Column("model", String(50), nullable=True),
    Column("firmware_version", String(50), nullable=True),
    Column("booted_at", UTCDateTime(), nullable=True),
    Column("connectors", JSON, nullable=False),
)

bulk_commands = Table(
    "maintenance_bulk_commands",
    metadata,
    Column("bulk_id", String(36), primary_key=True),
    Column("command", String(48), nullable=False),
    Column("params", JSON, nullable=False),
    Column("selection", JSON, nullable=False),
    Column("station_ids", JSON, nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

config_profiles = Table(
    "maintenance_config_profiles",
    metadata,
    Column("profile_id", String(64), primary_key=True),
    Column("model", String(50), nullable=True),
    Column("station_ids", JSON, nullable=True),
    Column("settings", JSON, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

reported_settings = Table(
    "maintenance_reported_settings",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=True),
    Column("reboot_required", Boolean, nullable=False),
    Column("reported_at", UTCDateTime(), nullable=False),
)
