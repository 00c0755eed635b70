"""Regulatory exports: NEVI sessions and uptime (CSV, streamed) and the AFIR EVSE status feed (OCPI-shaped)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Text, cast, select
from voltline_chassis.schemas import CSV, returns

from voltline_analytics.adapters import orm
from voltline_analytics.domain.exports import (
    NEVI_SESSION_FIELDS,
    NEVI_UPTIME_FIELDS,
    Outage,
    ad_hoc_price,
    nevi_session_row,
    ocpi_status,
    port_uptime,
)
from voltline_analytics.domain.timeslots import next_bucket
from voltline_analytics.entrypoints.api import From, To, _invalid, csv_lines, csv_response, period
from voltline_analytics.entrypoints.schemas import AfirLocationsOut
from voltline_analytics.service_layer.context import AnalyticsContext

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_exports_router(ctx: AnalyticsContext) -> APIRouter:
    router = APIRouter(tags=["exports"])

    @router.get("/exports/nevi/sessions", response_class=StreamingResponse, responses=CSV)
    async def nevi_sessions(
        from_: From = None, to: To = None, station_id: Annotated[str | None, Query(max_length=48)] = None
    ) -> StreamingResponse:
        start, end = period(ctx, from_, to, "day")
        f = orm.facts.c
        # The JSON as text (cast in SQL: asyncpg would otherwise decode it with json.loads), parsed here with
        # orjson: 100,000 rows through json.loads cost seconds.
        raw = cast(f.data, Text).label("data")
        q = select(raw).where(f.kind == "session", f.at >= start, f.at < end).order_by(f.at, f.fact_key)
        if station_id:
            q = q.where(f.station_id == station_id)

        async def body() -> AsyncIterator[str]:
            yield from_lines(csv_lines(NEVI_SESSION_FIELDS, []))
            async with ctx.sessions() as session:
                result = await session.stream(q.execution_options(yield_per=5000))
                async for partition in result.partitions(5000):
                    rows = (nevi_session_row(_data(r.data)) for r in partition)
                    yield from_lines(csv_lines(None, rows, times=False))  # rows of text

        return csv_response(body(), "nevi-sessions.csv")

    @router.get("/exports/nevi/uptime", response_class=StreamingResponse, responses=CSV)
    async def nevi_uptime(month: Annotated[str, Query(description="YYYY-MM")]) -> StreamingResponse:
        match = MONTH.match(month)
        if match is None:
            raise _invalid("query.month", "a month as YYYY-MM")
        month_start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
        month_end = next_bucket(month_start, "month")
        now = ctx.clock()
        rows = await _uptime_rows(ctx, month_start, month_end, now)
        return csv_response(csv_lines(NEVI_UPTIME_FIELDS, rows), f"nevi-uptime-{month}.csv")

    @router.get("/afir/locations", **returns(AfirLocationsOut))
    async def afir_locations() -> dict[str, Any]:
        """OCPI 2.2.1 Locations with EVSE status, one Location per station until sites are known."""
        now = ctx.clock()
        async with ctx.sessions() as session:
            stations = {r.station_id: r for r in await session.execute(select(orm.stations))}
            ports = list(await session.execute(select(orm.ports).order_by(orm.ports.c.station_id, orm.ports.c.evse_id)))
        by_station: dict[str, list[Any]] = defaultdict(list)
        for p in ports:
            by_station[p.station_id].append(p)
        fallback = None
        if ctx.ad_hoc_price_per_kwh is not None:
            fallback = {"currency": ctx.ad_hoc_currency, "price_per_kwh": str(ctx.ad_hoc_price_per_kwh)}
        async with ctx.sessions() as session:
            prices = await _prices(session, now)
        data = []
        for station_id in sorted(set(stations) | set(by_station)):
            st = stations.get(station_id)
            connected = bool(st and st.connected)
            price = prices(station_id) or fallback
            evses: list[dict[str, Any]] = []
            for p in by_station.get(station_id, []):
                status = ocpi_status(p.ocpp_status, connected)
                evses.append({
                    "uid": f"{station_id}*{p.evse_id}",
                    "evse_id": f"{station_id}*{p.evse_id}",
                    "status": status,
                    "occupied": status == "CHARGING",
                    "connectors": [{"id": str(p.connector_id or 1)}],
                    "ad_hoc_price": price,
                    "last_updated": _rfc3339(max(filter(None, [p.since, st.since if st else None]), default=now)),
                })  # fmt: skip
            updated = max((e["last_updated"] for e in evses), default=_rfc3339(now))
            data.append({"id": station_id, "evses": evses, "last_updated": updated})
        return {"status_code": 1000, "status_message": "Success", "timestamp": _rfc3339(now), "data": data}

    return router


async def _prices(session: Any, now: datetime) -> Callable[[str], dict[str, Any] | None]:
    """Each station's ad-hoc price: its own tariff, else its group's, else the network default (from billing's
    tariff events); a tariff's newest version already in force."""
    t, a = orm.tariffs.c, orm.tariff_assignments.c
    versions: dict[str, dict[str, Any]] = {}
    for row in await session.execute(select(orm.tariffs).order_by(t.tariff_id, t.version)):
        if row.valid_from is None or row.valid_from <= now:
            versions[row.tariff_id] = dict(row._mapping)
    own: dict[str, str] = {}
    groups: dict[str, str] = {}
    default: str | None = None
    for row in await session.execute(select(orm.tariff_assignments).order_by(a.assigned_at)):
        if row.scope == "station":
            own[row.scope_id] = row.tariff_id
        elif row.scope == "group":
            groups.update(dict.fromkeys(row.station_ids or [], row.tariff_id))
        else:
            default = row.tariff_id

    def price(station_id: str) -> dict[str, Any] | None:
        tariff_id = own.get(station_id) or groups.get(station_id) or default
        return ad_hoc_price(versions.get(tariff_id)) if tariff_id else None

    return price


def _data(value: Any) -> dict[str, Any]:
    """A stored JSON document: text on SQLite and when coerced; already a dict where the driver decoded it."""
    return value if isinstance(value, dict) else orjson.loads(value)


def from_lines(lines: Any) -> str:
    return "".join(lines)


async def _uptime_rows(ctx: AnalyticsContext, start: datetime, end: datetime, now: datetime) -> list[list[Any]]:
    f = orm.facts.c
    async with ctx.sessions() as session:
        stations = {r.station_id: r for r in await session.execute(select(orm.stations))}
        ports = list(await session.execute(select(orm.ports).order_by(orm.ports.c.station_id, orm.ports.c.evse_id)))
        outage_rows = await session.execute(select(f.data).where(f.kind == "outage", f.at < end))
        outages = [r.data for r in outage_rows]
        x = orm.exclusions.c
        excluded = list(await session.execute(select(orm.exclusions).where(x.starts_at < end, x.ends_at > start)))
    offline: dict[str, list[Outage]] = defaultdict(list)
    faults: dict[tuple[str, int], list[Outage]] = defaultdict(list)
    for o in outages:
        item = Outage(datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"]), o["kind"])
        if o["kind"] == "offline":
            offline[o["station_id"]].append(item)
        else:
            faults[(o["station_id"], o["evse_id"])].append(item)
    rows = []
    for p in ports:
        st = stations.get(p.station_id)
        open_ = list(offline[p.station_id]) + list(faults[(p.station_id, p.evse_id)])
        if st is not None and not st.connected:
            open_.append(Outage(st.since, now, "offline"))
        if p.ocpp_status == "Faulted" and p.since is not None:
            open_.append(Outage(p.since, now, "fault"))
        first_seen = st.first_seen_at if st else None
        mine = [(x.starts_at, x.ends_at) for x in excluded
                if x.station_id == p.station_id and x.evse_id in (None, p.evse_id)]  # fmt: skip
        rows.append(port_uptime(p.station_id, p.evse_id, start, end, first_seen, now, open_, mine))
    return rows


__all__ = ["Decimal", "build_exports_router"]
