"""Locations: operators describe sites; anyone finds chargers near a position with live status and price.

The body is stored as the operator sent it (validated by the API). A search reads candidates inside the
bounding box from the store, keeps those within the radius (haversine), adds each station's EVSEs with their
live status (diagnostics' own) and the price billing's tariffs say applies now (`TariffTable`, followed from
the tariffs topic), then applies the filters to the EVSEs: a location is listed when an EVSE matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from voltline_diagnostics.domain.locations import Box, Filter, LiveConnector, bounding_box, evse_matches, evses
from voltline_diagnostics.domain.locations import haversine_km as distance_km
from voltline_diagnostics.domain.tariff_table import TariffTable

MAX_CANDIDATES = 5000  # locations read from the box before the exact distance; the radius is capped too


class LocationNotFound(LookupError):
    def __init__(self, location_id: str) -> None:
        super().__init__(f"no location {location_id!r}")


class LocationExists(Exception):
    def __init__(self, location_id: str) -> None:
        super().__init__(f"location {location_id!r} exists; PUT /api/v1/locations/{location_id} replaces it")


class StationInUse(Exception):
    def __init__(self, station_id: str, location_id: str) -> None:
        super().__init__(f"station {station_id!r} already belongs to location {location_id!r}; remove it there first")
        self.station_id = station_id


@dataclass
class StationLive:
    online: bool
    connectors: list[LiveConnector] = field(default_factory=list)


class LocationStore(Protocol):
    async def save(self, body: dict[str, Any], now: datetime, *, create: bool) -> bool: ...
    async def get(self, location_id: str) -> dict[str, Any] | None: ...
    async def delete(self, location_id: str) -> bool: ...
    async def in_box(self, box: Box, limit: int) -> list[dict[str, Any]]: ...
    async def live(self, station_ids: list[str]) -> dict[str, StationLive]: ...


@dataclass
class LocationsContext:
    store: LocationStore
    tariffs: TariffTable
    clock: Callable[[], datetime]


async def create(ctx: LocationsContext, body: dict[str, Any]) -> dict[str, Any]:
    if not await ctx.store.save(body, ctx.clock(), create=True):
        raise LocationExists(body["location_id"])
    return await view(ctx, body["location_id"])


async def replace(ctx: LocationsContext, body: dict[str, Any]) -> dict[str, Any]:
    if not await ctx.store.save(body, ctx.clock(), create=False):
        raise LocationNotFound(body["location_id"])
    return await view(ctx, body["location_id"])


async def remove(ctx: LocationsContext, location_id: str) -> None:
    if not await ctx.store.delete(location_id):
        raise LocationNotFound(location_id)


async def view(ctx: LocationsContext, location_id: str) -> dict[str, Any]:
    body = await ctx.store.get(location_id)
    if body is None:
        raise LocationNotFound(location_id)
    [item] = await _items(ctx, [(body, None)], Filter())
    return item


async def search(
    ctx: LocationsContext, lat: float, lon: float, radius_km: float, wanted: Filter
) -> list[dict[str, Any]]:
    """Every location within `radius_km` that has a matching EVSE, nearest first."""
    near = []
    for body in await ctx.store.in_box(bounding_box(lat, lon, radius_km), MAX_CANDIDATES):
        c = body["coordinates"]
        d = distance_km(lat, lon, float(c["latitude"]), float(c["longitude"]))
        if d <= radius_km:
            near.append((body, d))
    near.sort(key=lambda pair: (pair[1], pair[0]["location_id"]))
    return await _items(ctx, near, wanted)


async def every(ctx: LocationsContext, wanted: Filter) -> list[dict[str, Any]]:
    """Every location (at most MAX_CANDIDATES) that has a matching EVSE, by id: a map of the whole network."""
    found = await ctx.store.in_box(Box(-90.0, 90.0, ((-180.0, 180.0),)), MAX_CANDIDATES)
    found.sort(key=lambda body: str(body["location_id"]))
    return await _items(ctx, [(body, None) for body in found], wanted)


async def _items(
    ctx: LocationsContext, found: Sequence[tuple[dict[str, Any], float | None]], wanted: Filter
) -> list[dict[str, Any]]:
    station_ids = [s["station_id"] for body, _ in found for s in body.get("stations", [])]
    live = await ctx.store.live(station_ids)
    now = ctx.clock()
    filtering = wanted != Filter()
    items = []
    for body, distance in found:
        shown = []
        for station in body.get("stations", []):
            sid = station["station_id"]
            state = live.get(sid, StationLive(False))
            views = [e for e in evses(station.get("evses") or [], state.connectors, state.online)
                     if evse_matches(e, wanted)]  # fmt: skip
            if filtering and not views:
                continue
            shown.append({"station_id": sid, "online": state.online, "evses": [e.to_json(sid) for e in views],
                          "price": price_of(ctx.tariffs, sid, now)})  # fmt: skip
        if filtering and not shown:
            continue
        item = {**body, "stations": shown}
        if distance is not None:
            item["distance_km"] = round(distance, 3)
        items.append(item)
    return items


def price_of(tariffs: TariffTable, station_id: str, at: datetime) -> dict[str, Any] | None:
    """The price that applies to the station now, in words and as billing's tariff (None: no tariff known)."""
    tariff = tariffs.for_station(station_id, at)
    if tariff is None:
        return None
    return {
        "tariff_id": tariff.tariff_id,
        "tariff_version": tariff.version,
        "currency": tariff.currency,
        "text": tariff.price_text(),
        "energy_price_per_kwh": _text(tariff.energy_price_per_kwh),
        "time_price_per_hour": _text(tariff.time_price_per_hour),
        "session_fee": _text(tariff.session_fee),
        "vat_percent": _text(tariff.vat_percent),
        "elements": tariff.elements,
    }


def _text(value: object) -> str | None:
    return None if value is None else str(value)
