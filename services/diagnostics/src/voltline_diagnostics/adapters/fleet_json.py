"""The fleet list as one PostgreSQL statement that returns the JSON text of the whole page.

Building 10,000 stations' dictionaries (and their 20,000 connectors) in Python, then encoding them, cost
about a second on a loaded machine; PostgreSQL builds the same JSON in tens of milliseconds from the
primary keys (stations in key order, each station's connectors from the connectors' primary key), and
the service passes the text through. The shape is exactly the one `views.fleet` builds on SQLite.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, and_, case, cast, exists, false, func, literal, not_, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import ColumnElement

from voltline_diagnostics.adapters.health_tables import connectors, stations
from voltline_diagnostics.domain.status import STATION_WIDE


def iso(column: Any) -> ColumnElement[Any]:
    """`2026-12-05T08:03:52.123456Z` as Python's isoformat (microseconds only when not zero), NULL stays null."""
    utc = column.op("AT TIME ZONE")(literal("UTC"))
    return case(
        (
            cast(func.date_part("microseconds", column), BigInteger) % 1_000_000 == 0,
            func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        ),
        else_=func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    )


def fleet_json_query(
    *,
    online: bool | None = None,
    health: str | None = None,
    status: str | None = None,
    model: str | None = None,
    firmware_version: str | None = None,
    after: str | None = None,
    limit: int = 10_000,
) -> Any:
    """One statement: `SELECT <the JSON array of the page>, <the last station id on it>, <how many>`.

    The page's stations come from the primary key in order; their connectors are joined to the page and
    aggregated per station in one pass, then joined back (two correlated subqueries per station cost about
    half as much again)."""
    s, c = stations.c, connectors.c
    page = select(
        s.station_id, s.online, s.unresponsive, s.since, s.last_seen_at, s.ocpp_version, s.vendor, s.model,
        s.firmware_version,
    )  # fmt: skip
    if after is not None:
        page = page.where(s.station_id > after)
    if online is not None:
        page = page.where(s.online.is_(true() if online else false()))
    if health is not None:
        page = page.where(s.online.is_(true() if health != "offline" else false()))
        if health != "offline":
            page = page.where(s.unresponsive.is_(true() if health == "unresponsive" else false()))
    if model is not None:
        page = page.where(s.model == model)
    if firmware_version is not None:
        page = page.where(s.firmware_version == firmware_version)
    if status is not None:
        has = exists().where(c.station_id == s.station_id, c.evse_id != STATION_WIDE)
        if status == "Unknown":
            page = page.where(s.online.is_(false()), has)
        else:
            page = page.where(s.online.is_(true()), has.where(c.status == status))
    p = page.order_by(s.station_id).limit(limit).cte("page")
    whole = and_(c.evse_id == STATION_WIDE, c.connector_id == STATION_WIDE)
    shown = case((p.c.online, c.status), else_=literal("Unknown"))  # an offline station's ports read Unknown
    port = func.json_build_object(
        "evse_id", c.evse_id, "connector_id", c.connector_id, "status", shown, "ocpp_status", c.ocpp_status,
        "error_code", c.error_code, "since", iso(c.since),
    )  # fmt: skip
    wide = func.json_build_object(
        "status", shown, "ocpp_status", c.ocpp_status, "error_code", c.error_code, "since", iso(c.since)
    )
    ports = (
        select(
            c.station_id,
            func.json_agg(aggregate_order_by(port, c.evse_id, c.connector_id)).filter(not_(whole)).label("ports"),
            func.json_agg(wide).filter(whole).op("->")(0).label("wide"),
        )
        .select_from(connectors.join(p, p.c.station_id == c.station_id))
        .group_by(c.station_id)
        .subquery("ports")
    )
    health_ = case((not_(p.c.online), literal("offline")), (p.c.unresponsive, literal("unresponsive")), else_="online")
    item = func.json_build_object(
        "station_id", p.c.station_id, "online", p.c.online, "health", health_, "since", iso(p.c.since),
        "last_seen_at", iso(p.c.last_seen_at), "ocpp_version", p.c.ocpp_version, "vendor", p.c.vendor,
        "model", p.c.model, "firmware_version", p.c.firmware_version, "station_status", ports.c.wide,
        "connectors", func.coalesce(ports.c.ports, func.json_build_array()),
    )  # fmt: skip
    joined = p.outerjoin(ports, ports.c.station_id == p.c.station_id)
    return select(
        func.coalesce(func.json_agg(aggregate_order_by(item, p.c.station_id)), func.json_build_array()).cast(String),
        func.max(p.c.station_id),
        func.count(p.c.station_id),
    ).select_from(joined)
