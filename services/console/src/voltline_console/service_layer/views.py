"""What each page shows, gathered from the services' public APIs with the logged-in user's key.

A service that is down or refuses costs only its own panel (`Panel.error`), never the page; a 401 means
the key was revoked since login, which ends the session (`KeyRevoked`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from voltline_console.domain.fleet import DayTotals, FleetSummary, day_totals, summarise
from voltline_console.domain.pricing import simple_values
from voltline_console.service_layer.ports import ApiAnswer, ServiceApi

LIST_LIMIT = 200
FLEET_LIMIT = 10_000  # the fleet pages read the whole fleet in one call (diagnostics' default page is 1,000)


class KeyRevoked(Exception):
    """A service answered 401: the key is no longer valid."""


@dataclass(slots=True)
class Panel:
    """One part of a page: its data, or why it is missing."""

    data: Any = None
    error: str | None = None
    more: bool = False  # the list was cut at LIST_LIMIT


def _panel(answer: ApiAnswer, items: bool = True) -> Panel:
    if answer.status == 401:
        raise KeyRevoked(answer.detail)
    if not answer.ok:
        return Panel(error=answer.detail)
    if items:
        body = answer.body if isinstance(answer.body, dict) else {}
        return Panel(data=list(body.get("items") or []), more=body.get("next_offset") is not None)
    return Panel(data=answer.body)


def check(answer: ApiAnswer) -> ApiAnswer:
    """An action's answer, with a revoked key turned into `KeyRevoked`."""
    if answer.status == 401:
        raise KeyRevoked(answer.detail)
    return answer


@dataclass(slots=True)
class Overview:
    fleet: Panel
    summary: FleetSummary | None
    alerts: Panel
    live: Panel
    today: DayTotals | None
    today_error: str | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


async def overview(api: ServiceApi, token: str, now: datetime) -> Overview:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    fleet, alerts, live, kpis = await asyncio.gather(
        api.call("diagnostics", "GET", "/stations", token, params={"limit": FLEET_LIMIT}),
        api.call("diagnostics", "GET", "/alerts", token, params={"status": "open"}),
        api.call("session", "GET", "/sessions", token, params={"status": "active", "limit": LIST_LIMIT}),
        api.call(
            "analytics",
            "GET",
            "/kpis",
            token,
            params={"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat(), "granularity": "day"},
        ),
    )
    fleet_panel = _panel(fleet)
    today = _panel(kpis)
    return Overview(
        fleet=fleet_panel,
        summary=summarise(fleet_panel.data) if fleet_panel.error is None else None,
        alerts=_panel(alerts),
        live=_panel(live),
        today=day_totals(today.data) if today.error is None else None,
        today_error=today.error,
        generated_at=now,
    )


def matches(station: dict[str, Any], status: str | None, query: str | None) -> bool:
    if status:
        states = {station.get("health")} | {c.get("status") for c in station.get("connectors") or ()}
        if status not in states:
            return False
    if query:
        text = " ".join(str(station.get(k) or "") for k in ("station_id", "vendor", "model", "firmware_version"))
        return query.lower() in text.lower()
    return True


async def stations(api: ServiceApi, token: str, status: str | None = None, query: str | None = None) -> Panel:
    """The fleet with its live status, filtered by a health or connector status and a free-text search."""
    panel = _panel(await api.call("diagnostics", "GET", "/stations", token, params={"limit": FLEET_LIMIT}))
    if panel.error is None:
        panel.data = [s for s in panel.data if matches(s, status or None, (query or "").strip() or None)]
        panel.data.sort(key=lambda s: str(s.get("station_id")))
    return panel


@dataclass(slots=True)
class StationPage:
    status: Panel
    alerts: Panel
    sessions: Panel
    commands: Panel


async def station(api: ServiceApi, token: str, station_id: str) -> StationPage:
    status, alerts, sessions, commands = await asyncio.gather(
        api.call("diagnostics", "GET", f"/stations/{station_id}/status", token),
        api.call("diagnostics", "GET", "/alerts", token, params={"station_id": station_id, "status": "open"}),
        api.call("session", "GET", "/sessions", token, params={"station_id": station_id, "limit": 20}),
        api.call("diagnostics", "GET", "/commands", token, params={"station_id": station_id, "limit": 10}),
    )
    return StationPage(_panel(status, items=False), _panel(alerts), _panel(sessions), _panel(commands))


async def station_status(api: ServiceApi, token: str, station_id: str) -> Panel:
    return _panel(await api.call("diagnostics", "GET", f"/stations/{station_id}/status", token), items=False)


async def reset(api: ServiceApi, token: str, station_id: str, kind: str) -> ApiAnswer:
    """Reset through the maintenance API: 200 with the station's answer, 202 if it has not answered yet."""
    return check(
        await api.call("diagnostics", "POST", f"/stations/{station_id}/commands/reset", token, json={"type": kind})
    )


async def sessions(api: ServiceApi, token: str, status: str | None, station_id: str | None) -> Panel:
    params: dict[str, Any] = {"limit": LIST_LIMIT}
    if status:
        params["status"] = status
    if station_id:
        params["station_id"] = station_id
    return _panel(await api.call("session", "GET", "/sessions", token, params=params))


async def alerts(api: ServiceApi, token: str, status: str | None) -> Panel:
    return _panel(await api.call("diagnostics", "GET", "/alerts", token, params={"status": status} if status else {}))


async def acknowledge(api: ServiceApi, token: str, alert_id: str) -> ApiAnswer:
    return check(await api.call("diagnostics", "POST", f"/alerts/{alert_id}/acknowledge", token))


async def tariffs(api: ServiceApi, token: str) -> Panel:
    """Tariffs, each with its simple-form prices (`simple`) for the list's columns."""
    panel = _panel(await api.call("billing", "GET", "/tariffs", token, params={"limit": LIST_LIMIT}))
    for tariff in panel.data or []:
        tariff["simple"] = simple_values(tariff)
    return panel


async def create_tariff(api: ServiceApi, token: str, body: dict[str, Any]) -> ApiAnswer:
    return check(await api.call("billing", "POST", "/tariffs", token, json=body))
