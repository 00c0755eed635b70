"""The station page's panels and its maintenance actions, through diagnostics' and session's public APIs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from voltline_console.domain.charts import TimelineRow, timeline
from voltline_console.domain.commands import Action
from voltline_console.service_layer.ports import ApiAnswer, ServiceApi
from voltline_console.service_layer.views import Panel, _panel, check


@dataclass(slots=True)
class StationDetails:
    """The station page's history timeline, inventory, configuration (2.x device model) and uptime."""

    timeline: list[TimelineRow]
    history: Panel
    inventory: Panel
    variables: Panel
    uptime: Panel


async def details(api: ServiceApi, token: str, station_id: str, now: datetime) -> StationDetails:
    since = {"from": (now - timedelta(hours=24)).isoformat(), "to": now.isoformat()}
    history, inventory, variables, uptime = await asyncio.gather(
        api.call("diagnostics", "GET", f"/stations/{station_id}/history", token, params=since),
        api.call("diagnostics", "GET", f"/stations/{station_id}/inventory", token),
        api.call("diagnostics", "GET", f"/stations/{station_id}/device-model", token),
        api.call("diagnostics", "GET", "/uptime", token, params={"station_id": station_id}),
    )
    history_panel = _panel(history, items=False)
    rows = timeline(history_panel.data, now) if isinstance(history_panel.data, dict) else []
    return StationDetails(
        rows,
        history_panel,
        _panel(inventory, items=False),
        _panel(variables),
        _panel(uptime, items=False),
    )


async def run_action(api: ServiceApi, token: str, station_id: str, action: Action, body: dict[str, Any]) -> ApiAnswer:
    """Send the action: a command (200 answered, 202 not yet), a log request, or a one-station firmware campaign."""
    if action.route == "logs":
        return check(await api.call("diagnostics", "POST", f"/stations/{station_id}/logs", token, json=body))
    if action.route == "firmware":
        campaign = {"firmware_id": body["firmware_id"], "stations": [station_id], "canary_size": 1, "batch_size": 1}
        return check(await api.call("diagnostics", "POST", "/firmware-campaigns", token, json=campaign))
    path = f"/stations/{station_id}/commands/{action.name}"
    return check(await api.call("diagnostics", "POST", path, token, json=body))
