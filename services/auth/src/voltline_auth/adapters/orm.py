"""The auth service's tables (its own database; no other service reads them)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from voltline_store import UTCDateTime, define_outbox_tables

metadata = MetaData()
_BIGINT = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only

stations = Table(
    "stations",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("security_profile", Integer, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("password_hash", String(255), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("certificate_fingerprint", String(64), nullable=True),
    Column("pending_password_hash", String(255), nullable=True),
    Column("previous_password_hash", String(255), nullable=True),
)

# What auth knows about a station's link, and what it still owes it (local list, cache clear).
station_sync = Table(
    "station_sync",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("ocpp_version", String(16), nullable=True),
    Column("connected", Boolean, nullable=False, default=False),
    Column("gateway_instance", String(128), nullable=True),
    Column("presence_at", UTCDateTime(), nullable=True),
    Column("local_list", String(48), nullable=True, index=True),
    Column("list_on_station", String(48), nullable=True),
    Column("list_version_on_station", Integer, nullable=True),
    Column("list_supported", Boolean, nullable=False, default=True),
    Column("cache_clear_pending", Boolean, nullable=False, default=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("synced_generation", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_synced_at", UTCDateTime(), nullable=True),
)

drivers = Table(
    "drivers",
    metadata,
    Column("driver_id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("email", String(254), nullable=False, unique=True),
    Column("phone", String(32), nullable=True),
    Column("language", String(8), nullable=True),
    Column("max_concurrent_sessions", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

id_tokens = Table(
    "id_tokens",
    metadata,
    Column("id_token_key", String(36), primary_key=True),  # upper-cased: OCPP tokens are case-insensitive
    Column("type", String(16), primary_key=True),
    Column("id_token", String(36), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("driver_id", String(36), ForeignKey("drivers.driver_id"), nullable=True, index=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("group_id", String(36), nullable=True, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
Index("ix_id_tokens_key_prefix", id_tokens.c.id_token_key, postgresql_ops={"id_token_key": "varchar_pattern_ops"})

local_lists = Table(
    "local_lists",
    metadata,
    Column("list_id", String(48), primary_key=True),
    Column("description", String(200), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

local_list_entries = Table(
    "local_list_entries",
    metadata,
    Column("list_id", String(48), ForeignKey("local_lists.list_id"), primary_key=True),
    Column("id_token_key", String(36), primary_key=True),
    Column("type", String(16), primary_key=True),
    Index("ix_local_list_entries_token", "id_token_key", "type"),
)

# Which tokens changed at which list version: what a Differential update from an older version sends.
local_list_changes = Table(
    "local_list_changes",
    metadata,
    Column("list_id", String(48), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("id_token_key", String(36), primary_key=True),
    Column("type", String(16), primary_key=True),
    Column("id_token", String(36), nullable=False),
)

active_sessions = Table(
    "active_sessions",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=True),
    Column("id_token_key", String(255), nullable=True, index=True),
    Column("driver_id", String(36), nullable=True, index=True),
    Column("started_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(200), nullable=False, index=True),
    Column("action", String(64), nullable=False, index=True),
    Column("target_type", String(32), nullable=False),
    Column("target_id", String(100), nullable=True, index=True),
    Column("details", JSON, nullable=False),
    sqlite_autoincrement=True,
)

authorization_decisions = Table(
    "authorization_decisions",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("station_id", String(48), nullable=False, index=True),
    Column("id_token_key", String(255), nullable=False),
    Column("token_type", String(32), nullable=False),
    Column("purpose", String(24), nullable=False),
    Column("ocpp_version", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("driver_id", String(36), nullable=True),
    Column("evse_id", Integer, nullable=True),
    Column("transaction_id", String(64), nullable=True),
    Index("ix_authorization_decisions_token", "id_token_key", "at"),
    sqlite_autoincrement=True,
)

# Drivers' sign-in (service_layer.accounts): one account per driver, secrets kept only as SHA-256.
driver_accounts = Table(
    "driver_accounts",
    metadata,
    Column("driver_id", String(36), ForeignKey("drivers.driver_id"), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("confirmed", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

driver_secrets = Table(
    "driver_secrets",
    metadata,
    Column("secret_hash", String(64), primary_key=True),
    Column("driver_id", String(36), nullable=False, index=True),
    Column("purpose", String(16), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

driver_signing_keys = Table(
    "driver_signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

outbox_tables = define_outbox_tables(metadata)
