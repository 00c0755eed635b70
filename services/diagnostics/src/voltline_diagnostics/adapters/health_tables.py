"""The diagnostics service's health tables: live status, history, alerts, webhooks, exclusions, inventory."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, text
from voltline_store import UTCDateTime

metadata = MetaData()

stations = Table(
    "health_stations",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("online", Boolean, nullable=False),
    Column("since", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("ocpp_version", String(16)),
    Column("heartbeat_interval_s", Integer),
    Column("unresponsive", Boolean, nullable=False),
    Column("unresponsive_since", UTCDateTime()),
    Column("last_boot_at", UTCDateTime()),
    Column("boot_reason", String(64)),
    Column("vendor", String(50)),
    Column("model", String(50)),
    Column("serial_number", String(64)),
    Column("firmware_version", String(64)),
    Column("modem", JSON),
    Column("meter", JSON),
    Column("report_requested_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("boot_status", String(16)),
    Column("authorized_at", UTCDateTime()),
    Column("unused_authorizations", Integer, nullable=False, server_default="0"),
    Column("presence_at", UTCDateTime()),
    Column("boot_answered_at", UTCDateTime()),
    Column("heartbeat_interval_at", UTCDateTime()),
    Index("ix_health_stations_model", "model"),
    Index("ix_health_stations_authorized", "authorized_at"),
    Index("ix_health_stations_firmware", "firmware_version"),
    # Touched (last_seen_at) by nearly every batch that hears the station: room for HOT updates (0021).
    postgresql_with={"fillfactor": 80},
)

connectors = Table(
    "health_connectors",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("ocpp_status", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64)),
    Column("vendor_error_code", String(64)),
    Column("info", String(255)),
    Column("since", UTCDateTime(), nullable=False),
    Column("reported_at", UTCDateTime(), nullable=False),
    Column("short_sessions", Integer, nullable=False, default=0),
    # No index on `status`: each change rewrites the row, and then stays on its page (HOT, migration 0021).
    postgresql_with={"fillfactor": 80},
)

status_history = Table(
    "health_status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("ocpp_status", String(32), nullable=False),
    Column("error_code", String(64)),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    # Also the close of a port's open interval, found by its start (the port's `since`): no index names
    # `ended_at`, so on PostgreSQL the close is a HOT update (fillfactor 70, migration 0020).
    Index("ix_health_status_history_port", "station_id", "evse_id", "connector_id", "started_at"),
    postgresql_with={"fillfactor": 70},
)

presence_history = Table(
    "health_presence_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(48), nullable=False),
    Column("online", Boolean, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Index("ix_health_presence_history_station", "station_id", "started_at"),
    Index(
        "ix_health_presence_history_open",
        "station_id",
        postgresql_where=text("ended_at IS NULL"),
        sqlite_where=text("ended_at IS NULL"),
    ),
)

boots = Table(
    "health_boots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(48), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("reason", String(64)),
    Index("ix_health_boots_station", "station_id", "at"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(36), primary_key=True),
    Column("open_key", String(400), unique=True),  # set while open or acknowledged: one per rule and target
    Column("rule", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("station_id", String(48), nullable=False),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("subject", String(200)),
    Column("status", String(16), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("acknowledged_at", UTCDateTime()),
    Column("acknowledged_by", String(128)),
    Column("resolved_at", UTCDateTime()),
    Column("resolved_by", String(128)),
    Column("note", Text),
    Column("detail", JSON, nullable=False),
    Index("ix_alerts_station_status", "station_id", "status"),
    Index("ix_alerts_status_opened", "status", "opened_at"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("webhook_id", String(36), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(255), nullable=False),
    Column("rules", JSON, nullable=False),
    Column("severities", JSON, nullable=False),
    Column("station_ids", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(128)),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("webhook_id", String(36), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("alert_id", String(36)),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
)

exclusions = Table(
    "uptime_exclusions",
    metadata,
    Column("exclusion_id", String(36), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("note", Text),
    Column("created_by", String(128)),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_uptime_exclusions_station", "station_id", "starts_at"),
)

device_variables = Table(
    "device_variables",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("component", String(50), nullable=False),
    Column("component_instance", String(50)),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("variable", String(50), nullable=False),
    Column("variable_instance", String(50)),
    Column("attribute_type", String(16), nullable=False),
    Column("value", Text),
    Column("mutability", String(16)),
    Column("data_type", String(32)),
    Column("unit", String(32)),
    Column("source", String(32), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

sessions = Table(
    "health_sessions",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("energy_wh", BigInteger, nullable=False),
    Column("charging_state", String(32)),
    Column("progress_at", UTCDateTime(), nullable=False),
    Index("ix_health_sessions_progress", "charging_state", "progress_at"),
)
