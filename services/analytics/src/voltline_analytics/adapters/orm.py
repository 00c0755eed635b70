"""The analytics store: facts, their per-hour contributions, materialised buckets, and live station state.

Money in contributions and buckets is integer micro-units (domain/measures.py): exact, and summed by the
database on every dialect. Facts keep the amounts as the events gave them (decimal text in `data`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, Index, Integer, MetaData, String, Table
from voltline_store import UTCDateTime, define_outbox_tables

from voltline_analytics.domain.measures import COUNTERS, MAXIMA, MONEY

metadata = MetaData()
define_outbox_tables(metadata)


def _measure_columns() -> list[Column[Any]]:
    return [
        *(Column(name, BigInteger, nullable=False, default=0) for name in COUNTERS),
        *(Column(name, BigInteger, nullable=False, default=0) for name in MONEY),  # micro-units
        *(Column(name, Float, nullable=False, default=0.0) for name in MAXIMA),
    ]


# The newest version of every fact (session, CDR, refund, outage), with what exports need in `data`.
facts = Table(
    "facts",
    metadata,
    Column("fact_key", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("station_id", String(48), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_facts_kind_at", "kind", "at"),
)

contributions = Table(
    "contributions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fact_key", String(200), nullable=False, index=True),
    Column("station_id", String(48), nullable=False),
    Column("hour", UTCDateTime(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("driver_key", String(32), nullable=True),
    *_measure_columns(),
    Index("ix_contributions_station_hour", "station_id", "hour"),
    Index("ix_contributions_hour", "hour"),
)

# Materialised tumbling windows: per station, per group (its current members, ADR 0035) and network-wide, by
# hour and by day, per currency.
buckets = Table(
    "buckets",
    metadata,
    Column("scope", String(8), primary_key=True),  # station, group or network
    Column("scope_id", String(64), primary_key=True),
    Column("granularity", String(8), primary_key=True),
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("currency", String(3), primary_key=True),
    *_measure_columns(),
    Column("unique_drivers", Integer, nullable=False, default=0),
    Index("ix_buckets_lookup", "scope", "granularity", "bucket_start"),
)

# Which drivers charged in a bucket, with how many contributions each: the bucket's unique_drivers.
bucket_drivers = Table(
    "bucket_drivers",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("scope_id", String(64), primary_key=True),
    Column("granularity", String(8), primary_key=True),
    Column("bucket_start", UTCDateTime(), primary_key=True),
    Column("driver_key", String(32), primary_key=True),
    Column("refs", Integer, nullable=False),
)

stations = Table(
    "stations",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("connected", Boolean, nullable=False),
    Column("since", UTCDateTime(), nullable=False),
    Column("ocpp_version", String(16), nullable=True),
    Column("presence_at", UTCDateTime(), nullable=True),  # the newest connect or disconnect applied
)

# One row per port (EVSE; 1.6 connectors), its newest connector status (AFIR feed, open faults).
ports = Table(
    "ports",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("connector_id", Integer, nullable=True),
    Column("ocpp_status", String(32), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("since", UTCDateTime(), nullable=True),
    Column("occupied_since", UTCDateTime(), nullable=True),  # start of the current occupied stretch
    Column("reported_at", UTCDateTime(), nullable=True),  # the newest report applied
)

# The newest event time seen per (stream, station): what allowed lateness is measured against.
watermarks = Table(
    "watermarks",
    metadata,
    Column("stream", String(32), primary_key=True),
    Column("station_id", String(48), primary_key=True),
    Column("max_time", UTCDateTime(), nullable=False),
    Index("ix_watermarks_station", "station_id"),  # a batch reads them by station
)

# Events later than the allowed lateness: kept (nothing is lost), not counted.
late_events = Table(
    "late_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("stream", String(32), nullable=False),
    Column("station_id", String(48), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("event_time", UTCDateTime(), nullable=False),
    Column("watermark", UTCDateTime(), nullable=False),
    Column("envelope", JSON, nullable=False),
)

station_groups = Table(
    "station_groups",
    metadata,
    Column("group_id", String(64), primary_key=True),
    Column("station_id", String(48), primary_key=True),
)

# One row (id 1): bumped by every membership change, so the worker knows when to reread station_groups.
group_versions = Table(
    "group_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

# Tariffs billing announced (billing.tariff_changed), every version: the AFIR feed's ad-hoc price.
tariffs = Table(
    "tariffs",
    metadata,
    Column("tariff_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("valid_from", UTCDateTime(), nullable=True),
    Column("energy_price_per_kwh", String(40), nullable=True),
    Column("time_price_per_hour", String(40), nullable=True),
    Column("session_fee", String(40), nullable=True),
    Column("vat_percent", String(40), nullable=True),
)

# Which tariff a station, a group (with its members) or the network (scope default) is on (billing.tariff_assigned).
tariff_assignments = Table(
    "tariff_assignments",
    metadata,
    Column("scope", String(8), primary_key=True),
    Column("scope_id", String(64), primary_key=True),
    Column("tariff_id", String(64), nullable=False),
    Column("station_ids", JSON, nullable=False),
    Column("assigned_at", UTCDateTime(), nullable=False),
)

# Time that does not count against uptime, declared in diagnostics (diagnostics.uptime_exclusion_declared).
exclusions = Table(
    "exclusions",
    metadata,
    Column("exclusion_id", String(36), primary_key=True),
    Column("station_id", String(48), nullable=False, index=True),
    Column("evse_id", Integer, nullable=True),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("reason", String(32), nullable=False),
)
