"""The session, billing, drivers, firmware, analytics and admin pages, from the services' public APIs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from voltline_console.domain.charts import session_series
from voltline_console.service_layer.ports import ApiAnswer, ServiceApi
from voltline_console.service_layer.views import LIST_LIMIT, Panel, _panel, check


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v not in (None, "")}


@dataclass(slots=True)
class SessionPage:
    session: Panel
    cdr: Panel


async def session(api: ServiceApi, token: str, session_id: str) -> SessionPage:
    found, cdrs = await asyncio.gather(
        api.call("session", "GET", f"/sessions/{session_id}", token),
        api.call("billing", "GET", "/cdrs", token, params={"session_id": session_id, "limit": 1}),
    )
    return SessionPage(_panel(found, items=False), _panel(cdrs))


async def session_points(api: ServiceApi, token: str, session_id: str) -> tuple[dict[str, Any], str | None]:
    """The chart's series and the session's status (`active` keeps the chart polling), or an error."""
    readings, found = await asyncio.gather(
        api.call("session", "GET", f"/sessions/{session_id}/meter-values", token),
        api.call("session", "GET", f"/sessions/{session_id}", token),
    )
    panel = _panel(readings, items=False)
    status = found.body.get("status") if found.ok and isinstance(found.body, dict) else None
    if panel.error is not None:
        return {"t": [], "power_kw": [], "energy_kwh": [], "status": status, "error": panel.error}, panel.error
    return {**session_series(panel.data.get("items") or []), "status": status, "error": None}, None


async def listing(api: ServiceApi, token: str, service: str, path: str, **params: Any) -> Panel:
    """One list of a service, filtered by the non-empty `params` (newest first, cut at LIST_LIMIT)."""
    query = _clean({"limit": LIST_LIMIT, **params})
    return _panel(await api.call(service, "GET", path, token, params=query))


async def unpaged(api: ServiceApi, token: str, service: str, path: str, **params: Any) -> Panel:
    """A list route that takes no `limit` (alerts, refunds, campaigns)."""
    return _panel(await api.call(service, "GET", path, token, params=_clean(params)))


async def send(
    api: ServiceApi,
    token: str,
    service: str,
    method: str,
    path: str,
    body: Any = None,
    params: dict[str, Any] | None = None,
) -> ApiAnswer:
    """A write (refund, block, resolve, key...); a 401 ends the session."""
    return check(await api.call(service, method, path, token, json=body, params=params))


async def one(api: ServiceApi, token: str, service: str, path: str) -> Panel:
    """One record (a tariff, a payment with its refunds...)."""
    return _panel(await api.call(service, "GET", path, token), items=False)


async def tariff(api: ServiceApi, token: str, tariff_id: str) -> Panel:
    return await one(api, token, "billing", f"/tariffs/{tariff_id}")


async def kpis(api: ServiceApi, token: str, now: datetime, days: int, station_id: str) -> Panel:
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    params = _clean(
        {
            "from": (end - timedelta(days=days)).isoformat(),
            "to": end.isoformat(),
            "granularity": "day",
            "station_id": station_id,
        }
    )
    return _panel(await api.call("analytics", "GET", "/kpis", token, params=params))


async def kpis_csv(api: ServiceApi, token: str, now: datetime, days: int, station_id: str) -> ApiAnswer:
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    params = _clean(
        {
            "from": (end - timedelta(days=days)).isoformat(),
            "to": end.isoformat(),
            "granularity": "day",
            "station_id": station_id,
            "format": "csv",
        }
    )
    return check(await api.call("analytics", "GET", "/kpis", token, params=params))
