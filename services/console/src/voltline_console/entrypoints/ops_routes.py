"""Alerts (resolve with a note), firmware campaigns with their progress, analytics charts with CSV, the map."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from voltline_console.domain.charts import kpi_series
from voltline_console.domain.login import LoginSession
from voltline_console.domain.sites import site_markers
from voltline_console.entrypoints.rendering import HTML, SECURITY_HEADERS, checked_form, current_user, render
from voltline_console.service_layer import more_views, site_views, views
from voltline_console.service_layer.ports import ServiceApi

User = Annotated[LoginSession, Depends(current_user)]
AlertId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
Days = Annotated[int, Query(ge=1, le=366)]
CSV: dict[int | str, Any] = {200: {"content": {"text/csv": {}}, "description": "The KPIs as CSV (from analytics)"}}
TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
KPI_CHARTS = (
    ("energy_kwh", "Energy (kWh)"),
    ("revenue_incl_vat", "Revenue incl. VAT"),
    ("utilisation_percent", "Utilisation (%)"),
    ("uptime_percent", "Uptime (%)"),
)


def _api(request: Request) -> ServiceApi:
    api: ServiceApi = request.app.state.api
    return api


def build_ops_router() -> APIRouter:
    router = APIRouter(tags=["console"], default_response_class=HTMLResponse)

    @router.post("/alerts/{alert_id}/resolve", responses=HTML)
    async def resolve(request: Request, user: User, alert_id: AlertId) -> HTMLResponse:
        """Resolve by hand with a note (diagnostics' 422 for a missing note is shown next to the field)."""
        form = await checked_form(request, user)
        note = form.get("note", "").strip()
        answer = await more_views.send(
            _api(request), user.token, "diagnostics", "POST", f"/alerts/{alert_id}/resolve", {"note": note}
        )
        alert = answer.body if answer.ok else {"alert_id": alert_id, "status": form.get("status") or "open"}
        ctx = {
            "user": user,
            "nav": "alerts",
            "alert": alert,
            "alert_id": alert_id,
            "note": note,
            "errors": answer.field_errors() if answer.status == 422 else {},
            "answer": answer if answer.status != 422 else None,
        }
        status = 200 if answer.ok else answer.status
        return render(request, "_alert_ack.html", ctx, page="alerts_action.html", status=status)

    @router.get("/firmware", responses=HTML)
    async def firmware(request: Request, user: User) -> HTMLResponse:
        api = _api(request)
        campaigns = await more_views.unpaged(api, user.token, "diagnostics", "/firmware-campaigns")
        catalogue = await more_views.unpaged(api, user.token, "diagnostics", "/firmware")
        ctx = {"user": user, "nav": "firmware", "campaigns": campaigns, "catalogue": catalogue}
        return render(request, "firmware.html", ctx)

    @router.get("/firmware/campaigns", responses=HTML)
    async def campaigns_part(request: Request, user: User) -> HTMLResponse:
        """The campaigns alone: the page polls this so their progress moves without a reload."""
        campaigns = await more_views.unpaged(_api(request), user.token, "diagnostics", "/firmware-campaigns")
        return render(request, "_campaigns.html", {"user": user, "campaigns": campaigns})

    @router.get("/analytics", responses=HTML)
    async def analytics(request: Request, user: User, days: Days = 30, station_id: str = "") -> HTMLResponse:
        panel = await more_views.kpis(_api(request), user.token, datetime.now(UTC), days, station_id.strip())
        series = kpi_series(panel.data or [])
        ctx = {
            "user": user,
            "nav": "analytics",
            "panel": panel,
            "series": series,
            "currency": next((b.get("currency") for b in panel.data or [] if b.get("currency")), None),
            "charts": KPI_CHARTS,
            "days": days,
            "station_id": station_id,
        }
        return render(request, "analytics.html", ctx)

    @router.get("/analytics/kpis.csv", response_class=Response, responses=CSV)
    async def analytics_csv(request: Request, user: User, days: Days = 30, station_id: str = "") -> Response:
        """Analytics' own CSV, passed through with the user's key."""
        answer = await more_views.kpis_csv(_api(request), user.token, datetime.now(UTC), days, station_id.strip())
        if not answer.ok or not isinstance(answer.body, str):
            return render(request, "error.html", {"user": user, "message": answer.detail}, status=502)
        headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="kpis-{days}d.csv"'}
        return Response(answer.body, media_type="text/csv; charset=utf-8", headers=headers)

    @router.get("/map", responses=HTML)
    async def station_map(
        request: Request, user: User, status: str = "", model: str = "", firmware: str = "", alerts: str = ""
    ) -> HTMLResponse:
        """Sites (diagnostics' locations) on a map with their stations' live state, and always the stations as
        a list, with filters; the join is made here, so diagnostics' fleet list stays as fast as it is."""
        api = _api(request)
        fleet, open_alerts, sites = await asyncio.gather(
            views.stations(api, user.token),
            more_views.unpaged(api, user.token, "diagnostics", "/alerts", status="open"),
            site_views.locations(api, user.token),
        )
        alerting = {a.get("station_id") for a in open_alerts.data or []}
        everything = list(fleet.data or [])
        fleet.data = [
            s
            for s in everything
            if views.matches(s, status or None, None)
            and (not model or s.get("model") == model)
            and (not firmware or s.get("firmware_version") == firmware)
            and (alerts != "yes" or s.get("station_id") in alerting)
        ]
        filtered = bool(status or model or firmware or alerts)
        shown = {str(s.get("station_id")) for s in fleet.data} if filtered else None
        by_id = {str(s.get("station_id")): s for s in everything}
        ctx = {
            "user": user,
            "nav": "map",
            "panel": fleet,
            "sites": sites,
            "markers": site_markers(sites.data or [], by_id, shown),
            "tiles": TILES,
            "alerting": alerting,
            "status": status,
            "model": model,
            "firmware": firmware,
            "alerts": alerts,
            "models": sorted({str(s.get("model")) for s in everything if s.get("model")}),
            "firmwares": sorted({str(s.get("firmware_version")) for s in everything if s.get("firmware_version")}),
        }
        return render(request, "map.html", ctx)

    return router
