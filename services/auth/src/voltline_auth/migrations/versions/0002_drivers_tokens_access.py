"""Drivers, id tokens, local lists, station sync state, sessions, API keys, audit and decision logs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("certificate_fingerprint", sa.String(64), nullable=True))

    op.create_table(
        "station_sync",
        sa.Column("station_id", sa.String(48), primary_key=True),
        sa.Column("ocpp_version", sa.String(16), nullable=True),
        sa.Column("connected", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("gateway_instance", sa.String(128), nullable=True),
        sa.Column("local_list", sa.String(48), nullable=True),
        sa.Column("list_on_station", sa.String(48), nullable=True),
        sa.Column("list_version_on_station", sa.Integer, nullable=True),
        sa.Column("list_supported", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("cache_clear_pending", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("synced_generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_synced_at", TS, nullable=True),
    )
    op.create_index("ix_station_sync_local_list", "station_sync", ["local_list"])

    op.create_table(
        "drivers",
        sa.Column("driver_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("max_concurrent_sessions", sa.Integer, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )

    op.create_table(
        "id_tokens",
        sa.Column("id_token_key", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(16), primary_key=True),
        sa.Column("id_token", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("driver_id", sa.String(36), sa.ForeignKey("drivers.driver_id"), nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("group_id", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_id_tokens_status", "id_tokens", ["status"])
    op.create_index("ix_id_tokens_driver_id", "id_tokens", ["driver_id"])
    op.create_index("ix_id_tokens_group_id", "id_tokens", ["group_id"])
    op.create_index(
        "ix_id_tokens_key_prefix", "id_tokens", ["id_token_key"], postgresql_ops={"id_token_key": "varchar_pattern_ops"}
    )

    op.create_table(
        "local_lists",
        sa.Column("list_id", sa.String(48), primary_key=True),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "local_list_entries",
        sa.Column("list_id", sa.String(48), sa.ForeignKey("local_lists.list_id"), primary_key=True),
        sa.Column("id_token_key", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(16), primary_key=True),
    )
    op.create_index("ix_local_list_entries_token", "local_list_entries", ["id_token_key", "type"])
    op.create_table(
        "local_list_changes",
        sa.Column("list_id", sa.String(48), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("id_token_key", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(16), primary_key=True),
        sa.Column("id_token", sa.String(36), nullable=False),
    )

    op.create_table(
        "active_sessions",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=True),
        sa.Column("id_token_key", sa.String(255), nullable=True),
        sa.Column("driver_id", sa.String(36), nullable=True),
        sa.Column("started_at", TS, nullable=False),
    )
    op.create_index("ix_active_sessions_id_token_key", "active_sessions", ["id_token_key"])
    op.create_index("ix_active_sessions_driver_id", "active_sessions", ["driver_id"])

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(100), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sqlite_autoincrement=True,
    )
    for column in ("at", "actor", "action", "target_id"):
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column])

    op.create_table(
        "authorization_decisions",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("id_token_key", sa.String(255), nullable=False),
        sa.Column("token_type", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(24), nullable=False),
        sa.Column("ocpp_version", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("driver_id", sa.String(36), nullable=True),
        sa.Column("evse_id", sa.Integer, nullable=True),
        sa.Column("transaction_id", sa.String(64), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_authorization_decisions_at", "authorization_decisions", ["at"])
    op.create_index("ix_authorization_decisions_station_id", "authorization_decisions", ["station_id"])
    op.create_index("ix_authorization_decisions_token", "authorization_decisions", ["id_token_key", "at"])


def downgrade() -> None:
    for table in (
        "authorization_decisions",
        "audit_log",
        "api_keys",
        "active_sessions",
        "local_list_changes",
        "local_list_entries",
        "local_lists",
        "id_tokens",
        "drivers",
        "station_sync",
    ):
        op.drop_table(table)
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("certificate_fingerprint")
