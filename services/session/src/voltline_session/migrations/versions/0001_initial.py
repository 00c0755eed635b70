"""Stations, sessions, meter readings, charging states, remote starts and the outbox/inbox tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from voltline_store import UTCDateTime
from voltline_store.outbox import create_outbox_tables_op, drop_outbox_tables_op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("ocpp_version", sa.String(16), nullable=True),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("presence_at", UTCDateTime(), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("ocpp_version", sa.String(16), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=True),
        sa.Column("connector_id", sa.Integer, nullable=True),
        sa.Column("bay", sa.Integer, nullable=False),
        sa.Column("id_token", sa.String(255), nullable=True),
        sa.Column("id_token_type", sa.String(32), nullable=True),
        sa.Column("driver_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("start_seen", sa.Boolean, nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("end_seen", sa.Boolean, nullable=False),
        sa.Column("stop_reason", sa.String(64), nullable=True),
        sa.Column("trigger_reason", sa.String(64), nullable=True),
        sa.Column("remote_start_id", sa.Integer, nullable=True),
        sa.Column("reported_meter_start_wh", sa.BigInteger, nullable=True),
        sa.Column("reported_meter_stop_wh", sa.BigInteger, nullable=True),
        sa.Column("meter_start_wh", sa.BigInteger, nullable=True),
        sa.Column("meter_stop_wh", sa.BigInteger, nullable=True),
        sa.Column("energy_wh", sa.BigInteger, nullable=False),
        sa.Column("power_w", sa.Float, nullable=True),
        sa.Column("peak_power_w", sa.Float, nullable=True),
        sa.Column("soc_percent", sa.Float, nullable=True),
        sa.Column("soc_start_percent", sa.Float, nullable=True),
        sa.Column("charging_state", sa.String(16), nullable=True),
        sa.Column("offline", sa.Boolean, nullable=False),
        sa.Column("reconciled", sa.Boolean, nullable=False),
        sa.Column("suspect", sa.Boolean, nullable=False),
        sa.Column("suspect_since", UTCDateTime(), nullable=True),
        sa.Column("anomalies", sa.JSON, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("last_event_at", UTCDateTime(), nullable=False),
        sa.Column("last_reading_at", UTCDateTime(), nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("ended_hash", sa.String(64), nullable=True),
        sa.Column("last_update_published_at", UTCDateTime(), nullable=True),
        sa.Column("remote_stop_requested_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(128), nullable=True),
        sa.Column("close_reason", sa.String(255), nullable=True),
        sa.Column("start_seq_no", sa.Integer, nullable=True),
        sa.Column("end_seq_no", sa.Integer, nullable=True),
        sa.Column("end_recorded_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("station_id", "transaction_id", name="uq_sessions_station_transaction"),
    )
    op.create_index("ix_sessions_status", "sessions", ["status"])
    op.create_index("ix_sessions_station_bay", "sessions", ["station_id", "bay"])
    op.create_index("ix_sessions_driver_id", "sessions", ["driver_id"])
    op.create_index("ix_sessions_id_token", "sessions", ["id_token"])
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    op.create_table(
        "session_seq_nos",
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("seq_no", sa.Integer, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "meter_readings",
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("measurand", sa.String(64), primary_key=True),
        sa.Column("at", UTCDateTime(), primary_key=True),
        sa.Column("value", sa.String(48), nullable=False),
        sa.Column("context", sa.String(32), nullable=True),
    )
    op.create_table(
        "charging_states",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("bay", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", UTCDateTime(), primary_key=True),
        sa.Column("source", sa.String(8), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("raw", sa.String(32), nullable=False),
    )
    op.create_table(
        "remote_starts",
        sa.Column("remote_start_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("id_token", sa.String(255), nullable=False),
        sa.Column("id_token_type", sa.String(32), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=True),
        sa.Column("connector_id", sa.Integer, nullable=True),
        sa.Column("driver_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.String(500), nullable=True),
        sa.Column("station_response", sa.JSON, nullable=True),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("requested_by", sa.String(128), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_remote_starts_station_requested", "remote_starts", ["station_id", "requested_at"])
    create_outbox_tables_op()


def downgrade() -> None:
    drop_outbox_tables_op()
    op.drop_index("ix_remote_starts_station_requested", table_name="remote_starts")
    op.drop_table("remote_starts")
    op.drop_table("charging_states")
    op.drop_table("meter_readings")
    op.drop_table("session_seq_nos")
    for name in ("started_at", "id_token", "driver_id", "station_bay", "status"):
        op.drop_index(f"ix_sessions_{name}", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("stations")
