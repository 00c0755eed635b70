"""Live status, the fleet list and status history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import returns
from voltline_chassis.security import require_role

from voltline_diagnostics.adapters import views
from voltline_diagnostics.entrypoints.schemas.status import FleetOut, HistoryOut, StationStatusOut
from voltline_diagnostics.service_layer.context import HealthContext

FLEET_PAGE = 1_000
"""The fleet list's default page size (`limit`); up to 50,000 on request."""

NormalisedStatus = Literal["Available", "Occupied", "Reserved", "Unavailable", "Faulted", "Unknown"]


def not_found(station_id: str) -> Problem:
    return Problem(
        404,
        f"No station {station_id!r} has been heard from by the diagnostics service.",
        extra={"station_id": station_id},
    )


def period(start: datetime | None, end: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    start = start or end - default
    if start >= end:
        raise Problem(
            422, "`from` must be before `to`.", extra={"errors": [{"field": "query.from", "message": "after to"}]}
        )
    return start, end


def build_router(ctx: HealthContext) -> APIRouter:
    router = APIRouter(tags=["status"], dependencies=[Depends(require_role("viewer"))])

    @router.get("/stations", responses={200: {"model": FleetOut, "description": "The fleet"}})
    async def list_stations(
        online: bool | None = None,
        health: Literal["online", "offline", "unresponsive"] | None = None,
        status: NormalisedStatus | None = None,
        model: str | None = None,
        firmware_version: str | None = None,
        after: Annotated[str | None, Query(max_length=48)] = None,
        limit: Annotated[int, Query(ge=1, le=50_000)] = FLEET_PAGE,
    ) -> Response:
        """The fleet in station id order: every station's health and connectors; `status` keeps stations with
        a connector in it. Keyset pages of `limit` stations (default 1,000): `next_after` (null on the last
        page) is the `after` of the next. (The JSON is built by the database on PostgreSQL and passed
        through; a page of 10,000 stations with three connectors is 7.5 MB and costs PostgreSQL several
        hundred milliseconds to build, a page of 1,000 a tenth of that.)"""
        items, next_after = await views.fleet_page(
            ctx,
            online=online,
            health_=health,
            status=status,
            model=model,
            firmware_version=firmware_version,
            after=after,
            limit=limit,
        )
        body = '{"items":' + items + ',"next_after":' + json.dumps(next_after) + "}"
        return Response(body, media_type="application/json")

    @router.get("/stations/{station_id}/status", **returns(StationStatusOut))
    async def station_status(station_id: str) -> dict[str, Any]:
        view = await views.station_status(ctx, station_id)
        if view is None:
            raise not_found(station_id)
        return view

    @router.get("/stations/{station_id}/history", **returns(HistoryOut))
    async def station_history(
        station_id: str,
        from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        to: AwareDatetime | None = None,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> dict[str, Any]:
        """Status intervals per connector (and the station's online/offline intervals) overlapping the period
        (default: the last 24 hours); the current interval has `to` null."""
        start, end = period(from_, to, timedelta(days=1))
        return await views.history(ctx, station_id, start, end, evse_id, connector_id)

    return router
