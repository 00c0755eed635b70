"""Alerts (resolve with a note), firmware campaigns with their progress, analytics charts with CSV, the map."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from voltline_console.domain.charts import kpi_series
from voltline_console.domain.login import LoginSession
from voltline_console.entrypoints.rendering import HTML, SECURITY_HEADERS, checked_form, current_user, render
from voltline_console.service_layer import more_views, site_views
from voltline_console.service_layer.ports import ServiceApi

User = Annotated[LoginSession, Depends(current_user)]


def _map_filter(status: str = "", model: str = "", firmware: str = "", alerts: str = "") -> site_views.MapFilter:
    return site_views.MapFilter(status, model, firmware, alerts)


MapFilters = Annotated[site_views.MapFilter, Depends(_map_filter)]
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


class MarkersOut(BaseModel):
    """The map's markers: a site's id, name, position, state (its worst station's) and stations."""

    markers: list[dict[str, Any]]
    error: str | None = None


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
    async def station_map(request: Request, user: User, filters: MapFilters) -> HTMLResponse:
        """Sites (diagnostics' locations) on a map with their stations' live state, and always the stations as
        a list, with filters; the join is made here, so diagnostics' fleet list stays as fast as it is."""
        found = await site_views.site_map(_api(request), user.token, filters)
        ctx = {
            "user": user,
            "nav": "map",
            "panel": found.fleet,
            "sites": found.sites,
            "markers": found.markers,
            "tiles": TILES,
            "alerting": found.alerting,
            "f": filters,
            "status": filters.status,
            "model": filters.model,
            "firmware": filters.firmware,
            "alerts": filters.alerts,
            "models": found.models,
            "firmwares": found.firmwares,
        }
        return render(request, "map.html", ctx)

    @router.get("/map/markers", response_class=JSONResponse, response_model=MarkersOut)
    async def map_markers(request: Request, user: User, filters: MapFilters) -> JSONResponse:
        """The map's markers alone: the page redraws them on each event of the live stream."""
        found = await site_views.site_map(_api(request), user.token, filters)
        body = MarkersOut(markers=found.markers, error=found.sites.error or found.fleet.error)
        return JSONResponse(body.model_dump(), headers=SECURITY_HEADERS)

    return router
