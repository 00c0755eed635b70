"""The reports API: KPIs (JSON or CSV), heatmap, rankings, station groups."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import CSV, returns
from voltline_chassis.security import require_role

from voltline_analytics.adapters import groups, orm
from voltline_analytics.adapters import kpi_reads as queries
from voltline_analytics.adapters.kpi_reads import RANKING_METRICS, Scope
from voltline_analytics.domain.timeslots import floor
from voltline_analytics.entrypoints.schemas import GroupOut, HeatmapOut, KpiReportOut, LateEventsOut, RankingsOut
from voltline_analytics.service_layer.context import AnalyticsContext

# The longest period one request may cover per granularity (buckets answered at once).
MAX_RANGE = {"hour": timedelta(days=92), "day": timedelta(days=3660), "month": timedelta(days=36600)}
CSV_FIELDS = (
    "bucket_start", "sessions", "completed_sessions", "failed_sessions", "failed_auth", "failed_low_energy",
    "failed_error", "energy_kwh", "charging_hours", "idle_hours", "occupied_hours", "revenue_excl_vat",
    "revenue_incl_vat", "refunds_incl_vat", "currency", "utilisation_percent", "uptime_percent", "avg_energy_kwh",
    "avg_duration_min", "peak_power_kw", "unique_drivers", "co2_avoided_kg", "status_utilisation_percent",
)  # fmt: skip
Format = Literal["json", "csv"]
From = Annotated[AwareDatetime | None, Query(alias="from", description="Start (inclusive), RFC 3339 UTC.")]
To = Annotated[AwareDatetime | None, Query(description="End (exclusive), RFC 3339 UTC; default now.")]


class GroupIn(BaseModel):
    stations: list[Annotated[str, Field(min_length=1, max_length=48)]] = Field(max_length=10_000)


def period(
    ctx: AnalyticsContext, start: datetime | None, end: datetime | None, granularity: str
) -> tuple[datetime, datetime]:
    """Default: the last 30 days (hour granularity: the last 2 days); refuse inverted or too long periods."""
    end = end or ctx.clock()
    start = start or floor(end - (timedelta(days=2) if granularity == "hour" else timedelta(days=30)), "day")
    if start >= end:
        raise _invalid("query.from", "from must be before to")
    if end - start > MAX_RANGE[granularity]:
        raise _invalid("query.to", f"at most {MAX_RANGE[granularity].days} days at {granularity} granularity")
    return start, end


def _invalid(field: str, message: str) -> Problem:
    return Problem(422, f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]})


def csv_lines(header: Iterable[str] | None, rows: Iterable[Iterable[Any]], *, times: bool = True) -> Iterator[str]:
    """CSV text, one line at a time (streamed: large exports never sit in memory as one string). None is written
    empty; with `times`, datetimes as RFC 3339 UTC (rows that hold none can skip that per-value check)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    for row in rows:
        if times:
            row = [v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else v for v in row]
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(lines: Iterator[str] | AsyncIterator[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def build_router(ctx: AnalyticsContext) -> APIRouter:
    router = APIRouter(tags=["analytics"])
    operator = [Depends(require_role("operator"))]

    @router.get("/kpis", **returns(KpiReportOut), responses=CSV)
    async def kpis(
        station_id: Annotated[str | None, Query(max_length=48)] = None,
        group_id: Annotated[str | None, Query(max_length=64)] = None,
        from_: From = None,
        to: To = None,
        granularity: Literal["hour", "day", "month"] = "day",
        format: Format = "json",
    ) -> Any:
        if station_id and group_id:
            raise _invalid("query.group_id", "give station_id or group_id, not both")
        start, end = period(ctx, from_, to, granularity)
        scope = Scope(station_id, group_id)
        async with ctx.sessions() as session:
            items = await queries.kpis(session, scope, start, end, granularity, ctx.clock(), ctx.co2,
                                       ctx.default_currency)  # fmt: skip
        if format == "csv":
            rows = ([item[f] for f in CSV_FIELDS] for item in items)
            return csv_response(csv_lines(CSV_FIELDS, rows), f"kpis-{granularity}.csv")
        return {"scope": scope.label, "granularity": granularity, "from": start, "to": end, "items": items}

    @router.get("/kpis/heatmap", **returns(HeatmapOut))
    async def heatmap(
        station_id: Annotated[str | None, Query(max_length=48)] = None,
        group_id: Annotated[str | None, Query(max_length=64)] = None,
        from_: From = None,
        to: To = None,
    ) -> dict[str, Any]:
        start, end = period(ctx, from_, to, "day")
        async with ctx.sessions() as session:
            return await queries.heatmap(session, Scope(station_id, group_id), start, end)

    @router.get("/rankings", **returns(RankingsOut))
    async def rankings(
        metric: Literal["utilisation", "revenue", "failures", "energy"] = "utilisation",
        from_: From = None,
        to: To = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        assert metric in RANKING_METRICS
        start, end = period(ctx, from_, to, "day")
        async with ctx.sessions() as session:
            return await queries.rankings(session, metric, start, end, limit, ctx.clock())

    @router.get("/late-events", **returns(LateEventsOut))
    async def late_events(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        """Events beyond the allowed lateness: kept, not counted (see docs/analytics.md)."""
        t = orm.late_events.c
        async with ctx.sessions() as session:
            rows = await session.execute(select(orm.late_events).order_by(t.event_time, t.event_id).limit(limit))
            items = [
                {"event_id": r.event_id, "stream": r.stream, "station_id": r.station_id, "event_type": r.event_type,
                 "session_id": r.envelope.get("session_id"), "event_time": r.event_time, "watermark": r.watermark}
                for r in rows
            ]  # fmt: skip
        return {"items": items}

    @router.put("/groups/{group_id}", dependencies=operator, **returns(GroupOut))
    async def put_group(group_id: Annotated[str, Field(max_length=64)], body: GroupIn) -> dict[str, Any]:
        stations = sorted(set(body.stations))
        async with ctx.sessions() as session, session.begin():
            await groups.set_members(session, group_id, stations)  # and its buckets rebuilt (ADR 0035)
        return {"group_id": group_id, "stations": stations}

    @router.get("/groups/{group_id}", **returns(GroupOut))
    async def get_group(group_id: str) -> dict[str, Any]:
        async with ctx.sessions() as session:
            stations = await queries.members(session, group_id)
        if not stations:
            raise Problem(404, f"No group {group_id!r}.", extra={"group_id": group_id})
        return {"group_id": group_id, "stations": stations}

    return router
