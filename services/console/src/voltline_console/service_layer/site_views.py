"""Locations (diagnostics' sites) for the map and the Locations page; QR codes and prices for the station page."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from voltline_console.domain.sites import form_errors, site_markers
from voltline_console.service_layer import views
from voltline_console.service_layer.more_views import unpaged
from voltline_console.service_layer.ports import ApiAnswer, ServiceApi
from voltline_console.service_layer.views import LIST_LIMIT, Panel, _panel, check

EXAMPLE_KWH, EXAMPLE_MIN = "20", 60  # the station page's example session for the price in force


async def locations(api: ServiceApi, token: str) -> Panel:
    """Every location by id (diagnostics' list without a position), with its stations' live EVSE status."""
    return _panel(await api.call("diagnostics", "GET", "/locations", token, params={"limit": LIST_LIMIT}))


@dataclass(frozen=True, slots=True)
class MapFilter:
    """The map's filters (empty: any)."""

    status: str = ""
    model: str = ""
    firmware: str = ""
    alerts: str = ""


@dataclass(slots=True)
class SiteMap:
    fleet: Panel  # the stations that pass the filters (the list under the map)
    sites: Panel
    markers: list[dict[str, Any]]
    alerting: set[str]
    models: list[str]
    firmwares: list[str]


async def site_map(api: ServiceApi, token: str, f: MapFilter) -> SiteMap:
    """Locations give where, the fleet list how each station is: joined here (diagnostics stays as it is)."""
    fleet, open_alerts, sites = await asyncio.gather(
        views.stations(api, token),
        unpaged(api, token, "diagnostics", "/alerts", status="open"),
        locations(api, token),
    )
    alerting = {str(a.get("station_id")) for a in open_alerts.data or []}
    everything = list(fleet.data or [])
    fleet.data = [
        s
        for s in everything
        if views.matches(s, f.status or None, None)
        and (not f.model or s.get("model") == f.model)
        and (not f.firmware or s.get("firmware_version") == f.firmware)
        and (f.alerts != "yes" or s.get("station_id") in alerting)
    ]
    filtered = bool(f.status or f.model or f.firmware or f.alerts)
    shown = {str(s.get("station_id")) for s in fleet.data} if filtered else None
    by_id = {str(s.get("station_id")): s for s in everything}
    return SiteMap(
        fleet,
        sites,
        site_markers(sites.data or [], by_id, shown),
        alerting,
        sorted({str(s.get("model")) for s in everything if s.get("model")}),
        sorted({str(s.get("firmware_version")) for s in everything if s.get("firmware_version")}),
    )


async def location(api: ServiceApi, token: str, location_id: str) -> Panel:
    return _panel(await api.call("diagnostics", "GET", f"/locations/{location_id}", token), items=False)


@dataclass(slots=True)
class Saved:
    answer: ApiAnswer
    errors: dict[str, str]  # by the form's field


async def save(api: ServiceApi, token: str, body: dict[str, Any], *, create: bool) -> Saved:
    """Create or replace; a 422 or 409 is turned into errors next to the form's fields."""
    if create:
        answer = check(await api.call("diagnostics", "POST", "/locations", token, json=body))
    else:
        path = f"/locations/{body['location_id']}"
        answer = check(await api.call("diagnostics", "PUT", path, token, json=body))
    errors = form_errors(answer.field_errors()) if answer.status == 422 else {}
    if answer.status == 409:
        clash = answer.body.get("station_id") if isinstance(answer.body, dict) else None
        errors = {"stations" if clash else "location_id": answer.detail}
    return Saved(answer, errors)


@dataclass(slots=True)
class Pricing:
    """The station's price in force (billing's estimate of an example session) and its EVSEs for QR codes."""

    estimate: Panel
    evses: list[int]


async def pricing(api: ServiceApi, token: str, station_id: str, connectors: list[dict[str, Any]]) -> Pricing:
    evses = sorted({int(c["evse_id"]) for c in connectors if int(c.get("evse_id") or 0) > 0})
    params = {"station_id": station_id, "energy_kwh": EXAMPLE_KWH, "duration_min": EXAMPLE_MIN}
    if evses:
        params["evse_id"] = evses[0]
    estimate = await api.call("billing", "GET", "/price-estimate", token, params=params)
    return Pricing(_panel(estimate, items=False), evses)


async def qr_svg(api: ServiceApi, token: str, station_id: str, evse_id: int) -> ApiAnswer:
    """Billing's QR code of the EVSE's payment page (SVG text)."""
    return check(await api.call("billing", "GET", f"/stations/{station_id}/evses/{evse_id}/qr.svg", token))
