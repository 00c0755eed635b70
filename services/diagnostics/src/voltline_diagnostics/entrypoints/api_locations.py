"""Locations (docs/diagnostics.md, "Locations"): operators manage sites; the search is open to anyone.

`GET /api/v1/locations` is public (drivers' apps, maps) and rate-limited per client address (429 with
Retry-After) unless the caller sends an operator's key (the console); the rest needs an operator's token
(`viewer` to read one, `operator` to change).
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from voltline_chassis.paging import DEFAULT_LIMIT, Limit, Offset, page
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import returns
from voltline_chassis.security import require_role

from voltline_diagnostics.domain.locations import Filter
from voltline_diagnostics.domain.rate_limit import RateLimiter
from voltline_diagnostics.entrypoints.schemas.locations import ConnectorStandard, LocationIn, LocationOut, LocationPage
from voltline_diagnostics.service_layer import locations as uc

SEARCH_PATH = "/locations"
MAX_RADIUS_KM = 500.0


async def _operator(request: Request) -> bool:
    """A valid operator key (viewer or more) on a public route; anything else counts as the public."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    verifier = getattr(request.app.state, "token_verifier", None)
    if scheme.lower() != "bearer" or not token.strip() or verifier is None:
        return False
    principal = await verifier.verify(token.strip())
    return principal is not None and principal.has_role("viewer")


def build_routers(ctx: uc.LocationsContext, limiter: RateLimiter) -> tuple[APIRouter, APIRouter]:
    """(operators' router, public search router): the second goes to `driver_routers` + `public_routes`."""
    operators = APIRouter(tags=["locations"])
    public = APIRouter(tags=["locations"])
    operator = [Depends(require_role("operator"))]

    @operators.post("/locations", status_code=201, dependencies=operator, **returns(LocationOut))
    async def create(body: LocationIn, response: Response) -> dict[str, Any]:
        """A site with its stations (EVSEs and connectors optional: else from the stations' own status)."""
        created = await uc.create(ctx, body.model_dump(mode="json"))
        response.headers["Location"] = f"/api/v1/locations/{body.location_id}"
        return created

    @operators.put("/locations/{location_id}", dependencies=operator, **returns(LocationOut))
    async def replace(location_id: str, body: LocationIn) -> dict[str, Any]:
        if body.location_id != location_id:
            error = {"field": "body.location_id", "message": "differs from the path"}
            raise Problem(422, "body.location_id must equal the path's location id", extra={"errors": [error]})
        return await uc.replace(ctx, body.model_dump(mode="json"))

    @operators.delete("/locations/{location_id}", status_code=204, dependencies=operator)
    async def delete(location_id: str) -> Response:
        await uc.remove(ctx, location_id)
        return Response(status_code=204)

    @operators.get("/locations/{location_id}", **returns(LocationOut))
    async def one(location_id: str) -> dict[str, Any]:
        return await uc.view(ctx, location_id)

    async def rate_limited(request: Request) -> None:
        if await _operator(request):  # an operator's tool (the console): not the anonymous public
            return
        client = request.client.host if request.client else "unknown"
        wait = limiter.take(client, time.monotonic())
        if wait > 0:
            raise Problem(429, "Too many searches from this address; retry later.",
                          headers={"Retry-After": str(max(1, math.ceil(wait)))})  # fmt: skip

    @public.get(SEARCH_PATH, dependencies=[Depends(rate_limited)], **returns(LocationPage))
    async def search(
        lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
        radius_km: Annotated[float, Query(gt=0, le=MAX_RADIUS_KM)] = 10.0,
        connector_type: ConnectorStandard | None = None,
        min_power_kw: Annotated[Decimal | None, Query(ge=0, le=2000)] = None,
        available: bool = False,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        """Locations within `radius_km` of (lat, lon), nearest first, with each EVSE's live status and the price
        that applies; `connector_type`, `min_power_kw` and `available=true` keep the EVSEs that match (and the
        locations that have one). Without `lat` and `lon`: every location by id (maps of the whole network, the
        console). No token needed."""
        wanted = Filter(connector_type, min_power_kw, available)
        if lat is None and lon is None:
            found = await uc.every(ctx, wanted)
        elif lat is None or lon is None:
            name = "lat" if lat is None else "lon"
            error = {"field": f"query.{name}", "message": "lat and lon go together"}
            raise Problem(422, f"query.{name} is missing: lat and lon go together", extra={"errors": [error]})
        else:
            found = await uc.search(ctx, lat, lon, radius_km, wanted)
        return page(found[offset : offset + limit + 1], limit, offset)

    return operators, public
