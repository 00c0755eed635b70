"""Read models for the API (queries straight to the tables): a station's live status, the fleet list, status history."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from voltline_diagnostics.adapters.fleet_json import fleet_json_query
from voltline_diagnostics.adapters.health_tables import connectors, stations
from voltline_diagnostics.adapters.unit_of_work import SqlDiagnosticsUnitOfWork
from voltline_diagnostics.domain.status import STATION_WIDE, health, shown_status
from voltline_diagnostics.service_layer.context import HealthContext


def iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def _connector(c: Any, online: bool) -> dict[str, Any]:
    return {
        "evse_id": c.evse_id,
        "connector_id": c.connector_id,
        "status": shown_status(c.status, online),
        "ocpp_status": c.ocpp_status,
        "error_code": c.error_code,
        "vendor_error_code": c.vendor_error_code,
        "info": c.info,
        "since": iso(c.since),
    }


def _station(st: Any, ports: list[Any]) -> dict[str, Any]:
    whole = next((c for c in ports if (c.evse_id, c.connector_id) == (STATION_WIDE, STATION_WIDE)), None)
    return {
        "station_id": st.station_id,
        "online": st.online,
        "health": health(st.online, st.unresponsive),
        "since": iso(st.since),
        "last_seen_at": iso(st.last_seen_at),
        "unresponsive_since": iso(st.unresponsive_since),
        "ocpp_version": st.ocpp_version,
        "last_boot_at": iso(st.last_boot_at),
        "boot_reason": st.boot_reason,
        "boot_status": st.boot_status,
        "heartbeat_interval_s": st.heartbeat_interval_s,
        "vendor": st.vendor,
        "model": st.model,
        "firmware_version": st.firmware_version,
        "station_status": _connector(whole, st.online) if whole else None,
        "connectors": [_connector(c, st.online) for c in ports if c is not whole],
    }


async def rows(ctx: HealthContext, statement: Any) -> list[Any]:
    if ctx.reader is not None:
        return list(await ctx.reader.all(statement))
    async with ctx.uow() as uow:
        assert isinstance(uow, SqlDiagnosticsUnitOfWork), "the SQL views read the SQL store"
        return list((await uow.session.execute(statement)).all())


async def station_status(ctx: HealthContext, station_id: str) -> dict[str, Any] | None:
    found = await rows(ctx, select(stations).where(stations.c.station_id == station_id))
    if not found:
        return None
    ports = await rows(
        ctx,
        select(connectors)
        .where(connectors.c.station_id == station_id)
        .order_by(connectors.c.evse_id, connectors.c.connector_id),
    )
    view = _station(found[0], ports)
    view["heartbeat_interval_s"] = view["heartbeat_interval_s"] or ctx.default_heartbeat_s
    return view


_FLEET_STATION = (
    stations.c.station_id,
    stations.c.online,
    stations.c.unresponsive,
    stations.c.since,
    stations.c.last_seen_at,
    stations.c.ocpp_version,
    stations.c.vendor,
    stations.c.model,
    stations.c.firmware_version,
)
_FLEET_PORT = (
    connectors.c.station_id,
    connectors.c.evse_id,
    connectors.c.connector_id,
    connectors.c.status,
    connectors.c.ocpp_status,
    connectors.c.error_code,
    connectors.c.since,
)


async def fleet_page(
    ctx: HealthContext,
    *,
    online: bool | None = None,
    health_: str | None = None,
    status: str | None = None,
    model: str | None = None,
    firmware_version: str | None = None,
    after: str | None = None,
    limit: int = 10_000,
) -> tuple[str, str | None]:
    """A page of the fleet in station id order after `after` (keyset): the JSON text of its items, and the
    cursor of the next page (None on the last). On PostgreSQL one statement builds the JSON; elsewhere
    `fleet` does it in Python."""
    filters: dict[str, Any] = {
        "online": online,
        "status": status,
        "model": model,
        "firmware_version": firmware_version,
        "after": after,
        "limit": limit,
    }
    if ctx.dialect == "postgresql":
        ((items, last, count),) = await rows(ctx, fleet_json_query(health=health_, **filters))
        return items, last if count == limit else None
    found = await fleet(ctx, health_=health_, **filters)
    text = json.dumps(found, separators=(",", ":"))
    return text, found[-1]["station_id"] if len(found) == limit else None


async def fleet(
    ctx: HealthContext,
    *,
    online: bool | None = None,
    health_: str | None = None,
    status: str | None = None,
    model: str | None = None,
    firmware_version: str | None = None,
    after: str | None = None,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """Every station with its connectors, filtered; two queries whatever the fleet size, only the columns the
    list shows, rows read as tuples (10,000 stations: the Python work, not the queries, is what costs)."""
    query = select(*_FLEET_STATION).order_by(stations.c.station_id).limit(limit)
    if after is not None:
        query = query.where(stations.c.station_id > after)
    if online is not None:
        query = query.where(stations.c.online.is_(online))
    if health_ is not None:
        query = query.where(
            stations.c.online.is_(health_ != "offline"),
            *([stations.c.unresponsive.is_(health_ == "unresponsive")] if health_ != "offline" else []),
        )
    if model is not None:
        query = query.where(stations.c.model == model)
    if firmware_version is not None:
        query = query.where(stations.c.firmware_version == firmware_version)
    if status is not None and status != "Unknown":
        has = select(connectors.c.station_id).where(
            connectors.c.station_id == stations.c.station_id,
            connectors.c.status == status,
            connectors.c.evse_id != STATION_WIDE,
        )
        query = query.where(stations.c.online.is_(True), has.exists())
    elif status == "Unknown":  # an offline station's ports all read Unknown
        has = select(connectors.c.station_id).where(
            connectors.c.station_id == stations.c.station_id, connectors.c.evse_id != STATION_WIDE
        )
        query = query.where(stations.c.online.is_(False), has.exists())
    found = await rows(ctx, query)
    ports_query = select(*_FLEET_PORT).order_by(
        connectors.c.station_id, connectors.c.evse_id, connectors.c.connector_id
    )
    if len(found) < 500:
        ports_query = ports_query.where(connectors.c.station_id.in_([r[0] for r in found]))
    elif found:  # a big page: the connectors of its key range only, not the whole fleet's
        ports_query = ports_query.where(connectors.c.station_id.between(found[0][0], found[-1][0]))
    by_station: dict[str, list[dict[str, Any]]] = {}
    whole: dict[str, tuple[Any, ...]] = {}
    for sid, evse, conn, st, ocpp, code, since in await rows(ctx, ports_query):
        if evse == STATION_WIDE and conn == STATION_WIDE:
            whole[sid] = (st, ocpp, code, since)
            continue
        by_station.setdefault(sid, []).append(
            {
                "evse_id": evse,
                "connector_id": conn,
                "status": st,
                "ocpp_status": ocpp,
                "error_code": code,
                "since": iso(since),
            }
        )
    out = []
    for sid, is_online, unresponsive, since, seen, version, vendor, model_, firmware in found:
        ports = by_station.get(sid, [])
        if not is_online:
            ports = [{**p, "status": "Unknown"} for p in ports]
        if status is not None and not any(p["status"] == status for p in ports):
            continue
        station_wide = whole.get(sid)
        out.append(
            {
                "station_id": sid,
                "online": is_online,
                "health": health(is_online, unresponsive),
                "since": iso(since),
                "last_seen_at": iso(seen),
                "ocpp_version": version,
                "vendor": vendor,
                "model": model_,
                "firmware_version": firmware,
                "station_status": None
                if station_wide is None
                else {
                    "status": shown_status(station_wide[0], is_online),
                    "ocpp_status": station_wide[1],
                    "error_code": station_wide[2],
                    "since": iso(station_wide[3]),
                },
                "connectors": ports,
            }
        )
    return out


async def history(
    ctx: HealthContext,
    station_id: str,
    start: datetime,
    end: datetime,
    evse_id: int | None,
    connector_id: int | None,
) -> dict[str, Any]:
    async with ctx.uow() as uow:
        rows = await uow.status.status_history(station_id, start, end, evse_id, connector_id)
        presence = await uow.status.presence_history(station_id, start, end)
    return {
        "station_id": station_id,
        "from": iso(start),
        "to": iso(end),
        "items": [
            {
                "evse_id": h["evse_id"],
                "connector_id": h["connector_id"],
                "from": iso(h["started_at"]),
                "to": iso(h["ended_at"]),
                "status": h["status"],
                "ocpp_status": h["ocpp_status"],
                "error_code": h["error_code"],
            }
            for h in rows
        ],
        "presence": [{"from": iso(p["started_at"]), "to": iso(p["ended_at"]), "online": p["online"]} for p in presence],
    }
