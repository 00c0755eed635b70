"""The session service's tables (its own database; no other service reads them)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from voltline_store import UTCDateTime, define_outbox_tables

metadata = MetaData()

# What the service knows about each station: its protocol (for commands) and when it was last heard from.
stations = Table(
    "stations",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("ocpp_version", String(16), nullable=True),
    Column("connected", Boolean, nullable=False),
    Column("presence_at", UTCDateTime(), nullable=True),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(36), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("transaction_id", String(64), nullable=False),
    Column("ocpp_version", String(16), nullable=False),
    Column("evse_id", Integer, nullable=True),
    Column("connector_id", Integer, nullable=True),
    Column("bay", Integer, nullable=False),
    Column("id_token", String(255), nullable=True),
    Column("id_token_type", String(32), nullable=True),
    Column("driver_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("start_seen", Boolean, nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("end_seen", Boolean, nullable=False),
    Column("stop_reason", String(64), nullable=True),
    Column("trigger_reason", String(64), nullable=True),
    Column("remote_start_id", Integer, nullable=True),
    Column("reported_meter_start_wh", BigInteger, nullable=True),
    Column("reported_meter_stop_wh", BigInteger, nullable=True),
    Column("meter_start_wh", BigInteger, nullable=True),
    Column("meter_stop_wh", BigInteger, nullable=True),
    Column("energy_wh", BigInteger, nullable=False),
    Column("power_w", Float, nullable=True),
    Column("peak_power_w", Float, nullable=True),
    Column("soc_percent", Float, nullable=True),
    Column("soc_start_percent", Float, nullable=True),
    Column("charging_state", String(16), nullable=True),
    Column("offline", Boolean, nullable=False),
    Column("reconciled", Boolean, nullable=False),
    Column("suspect", Boolean, nullable=False),
    Column("suspect_since", UTCDateTime(), nullable=True),
    Column("anomalies", JSON, nullable=False),
    Column("problems", JSON, nullable=False),
    Column("last_event_at", UTCDateTime(), nullable=False),
    Column("last_reading_at", UTCDateTime(), nullable=True),
    Column("revision", Integer, nullable=False),
    Column("ended_hash", String(64), nullable=True),
    Column("last_update_published_at", UTCDateTime(), nullable=True),
    Column("remote_stop_requested_at", UTCDateTime(), nullable=True),
    Column("closed_by", String(128), nullable=True),
    Column("close_reason", String(255), nullable=True),
    Column("start_seq_no", Integer, nullable=True),
    Column("end_seq_no", Integer, nullable=True),
    Column("end_recorded_at", UTCDateTime(), nullable=True),
    Column("heard_at", UTCDateTime(), nullable=True),
    Column("doubt", String(16), nullable=True),
    Column("doubt_since", UTCDateTime(), nullable=True),
    Column("checked_at", UTCDateTime(), nullable=True),
    Column("meter_tally", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("station_id", "transaction_id", name="uq_sessions_station_transaction"),
)
Index("ix_sessions_status", sessions.c.status)
Index("ix_sessions_station_bay", sessions.c.station_id, sessions.c.bay)
Index("ix_sessions_driver_id", sessions.c.driver_id)
Index("ix_sessions_id_token", sessions.c.id_token)
Index("ix_sessions_started_at", sessions.c.started_at)

# 2.x seqNo per transaction: a second message with a seen number is a duplicate.
seq_nos = Table(
    "session_seq_nos",
    metadata,
    Column("session_id", String(36), primary_key=True),
    Column("seq_no", Integer, primary_key=True, autoincrement=False),
)

# Every reading, in base units as exact decimal text; one per measurand and instant (resends dedupe here).
meter_readings = Table(
    "meter_readings",
    metadata,
    Column("session_id", String(36), primary_key=True),
    Column("measurand", String(64), primary_key=True),
    Column("at", UTCDateTime(), primary_key=True),
    Column("value", String(48), nullable=False),
    Column("context", String(32), nullable=True),
)

# Charging-state observations per station bay (EVSE or 1.6 connector), from statuses and chargingState.
charging_states = Table(
    "charging_states",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("bay", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), primary_key=True),
    Column("source", String(8), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("raw", String(32), nullable=False),
)

remote_starts = Table(
    "remote_starts",
    metadata,
    Column("remote_start_id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(48), nullable=False),
    Column("id_token", String(255), nullable=False),
    Column("id_token_type", String(32), nullable=False),
    Column("evse_id", Integer, nullable=True),
    Column("connector_id", Integer, nullable=True),
    Column("driver_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("message", String(500), nullable=True),
    Column("station_response", JSON, nullable=True),
    Column("session_id", String(36), nullable=True),
    Column("requested_by", String(128), nullable=True),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("answered_at", UTCDateTime(), nullable=True),
)
Index("ix_remote_starts_station_requested", remote_starts.c.station_id, remote_starts.c.requested_at)

outbox_tables = define_outbox_tables(metadata)
