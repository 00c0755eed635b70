"""The auth service's tables (its own database; no other service reads them)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table
from voltline_store import UTCDateTime, define_outbox_tables

metadata = MetaData()

stations = Table(
    "stations",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("security_profile", Integer, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("password_hash", String(255), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

outbox_tables = define_outbox_tables(metadata)
