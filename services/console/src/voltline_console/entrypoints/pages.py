"""The console's pages. Each gathers its data through the service layer with the user's own key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from voltline_console.domain.commands import ACTIONS
from voltline_console.domain.login import LoginSession
from voltline_console.entrypoints.rendering import HTML, checked_form, current_user, render
from voltline_console.service_layer import site_views, station_views, views
from voltline_console.service_layer.ports import ServiceApi

StationId = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[a-zA-Z0-9*\-_=:+|@.]+$")]
User = Annotated[LoginSession, Depends(current_user)]
TARIFF_FIELDS = ("tariff_id", "currency", "energy_price_per_kwh", "time_price_per_hour", "session_fee", "vat_percent")


def _api(request: Request) -> ServiceApi:
    api: ServiceApi = request.app.state.api
    return api


def build_pages_router() -> APIRouter:
    router = APIRouter(tags=["console"], default_response_class=HTMLResponse)

    @router.get("/", responses=HTML)
    async def overview(request: Request, user: User) -> HTMLResponse:
        data = await views.overview(_api(request), user.token, datetime.now(UTC))
        return render(request, "overview.html", {"user": user, "nav": "overview", "o": data})

    @router.get("/stations", responses=HTML)
    async def stations(request: Request, user: User, status: str = "", q: str = "") -> HTMLResponse:
        panel = await views.stations(_api(request), user.token, status, q)
        ctx = {"user": user, "nav": "stations", "panel": panel, "status": status, "q": q}
        return render(request, "stations.html", ctx)

    @router.get("/stations/rows", responses=HTML)
    async def station_rows(request: Request, user: User, status: str = "", q: str = "") -> HTMLResponse:
        """The list's rows alone: the page polls this to stay live without a reload."""
        panel = await views.stations(_api(request), user.token, status, q)
        return render(request, "_station_rows.html", {"user": user, "panel": panel})

    @router.get("/stations/{station_id}", responses=HTML)
    async def station(request: Request, user: User, station_id: StationId) -> HTMLResponse:
        page, more = await asyncio.gather(
            views.station(_api(request), user.token, station_id),
            station_views.details(_api(request), user.token, station_id, datetime.now(UTC)),
        )
        connectors = page.status.data.get("connectors") or [] if isinstance(page.status.data, dict) else []
        pricing = await site_views.pricing(_api(request), user.token, station_id, connectors)
        ctx = {"user": user, "nav": "stations", "station_id": station_id, "page": page, "live": page.status,
               "d": more, "actions": ACTIONS, "pricing": pricing}  # fmt: skip
        return render(request, "station.html", ctx)

    @router.get("/stations/{station_id}/live", responses=HTML)
    async def station_live(request: Request, user: User, station_id: StationId) -> HTMLResponse:
        live = await views.station_status(_api(request), user.token, station_id)
        return render(request, "_station_live.html", {"user": user, "station_id": station_id, "live": live})

    @router.get("/stations/{station_id}/reset", responses=HTML)
    async def reset_confirm(
        request: Request, user: User, station_id: StationId, type: Literal["soft", "hard"] = "soft"
    ) -> HTMLResponse:
        """The confirmation step before a reset (a fragment under the button, or a page without JavaScript)."""
        ctx = {"user": user, "nav": "stations", "station_id": station_id, "kind": type}
        return render(request, "_reset_confirm.html", ctx, page="action_page.html")

    @router.post("/stations/{station_id}/reset", responses=HTML)
    async def reset(request: Request, user: User, station_id: StationId) -> HTMLResponse:
        form = await checked_form(request, user)
        kind = "hard" if form.get("type") == "hard" else "soft"
        answer = await views.reset(_api(request), user.token, station_id, kind)
        ctx = {"user": user, "nav": "stations", "station_id": station_id, "kind": kind, "answer": answer}
        return render(request, "_command_result.html", ctx, page="action_page.html")

    @router.get("/sessions", responses=HTML)
    async def sessions(request: Request, user: User, status: str = "", station_id: str = "") -> HTMLResponse:
        wanted = status if status in ("active", "completed") else ""
        panel = await views.sessions(_api(request), user.token, wanted, station_id.strip())
        ctx = {"user": user, "nav": "sessions", "panel": panel, "status": wanted, "station_id": station_id}
        return render(request, "sessions.html", ctx)

    @router.get("/alerts", responses=HTML)
    async def alerts(request: Request, user: User, status: str = "open") -> HTMLResponse:
        wanted = status if status in ("open", "acknowledged", "resolved") else ""
        panel = await views.alerts(_api(request), user.token, wanted)
        return render(request, "alerts.html", {"user": user, "nav": "alerts", "panel": panel, "status": wanted})

    @router.post("/alerts/{alert_id}/acknowledge", responses=HTML)
    async def acknowledge(request: Request, user: User, alert_id: str) -> HTMLResponse:
        await checked_form(request, user)
        answer = await views.acknowledge(_api(request), user.token, alert_id)
        alert = answer.body if answer.ok else None
        ctx = {"user": user, "nav": "alerts", "alert": alert, "alert_id": alert_id, "answer": answer}
        return render(request, "_alert_ack.html", ctx, page="action_page.html")

    @router.get("/tariffs", responses=HTML)
    async def tariffs(request: Request, user: User) -> HTMLResponse:
        panel = await views.tariffs(_api(request), user.token)
        ctx = {"user": user, "nav": "tariffs", "panel": panel, "values": {"currency": "EUR"}, "errors": {}}
        return render(request, "tariffs.html", ctx)

    @router.post("/tariffs", responses=HTML)
    async def create_tariff(request: Request, user: User) -> HTMLResponse:
        """Create a tariff; the billing service's 422 is shown field by field, with what was typed kept."""
        form = await checked_form(request, user)
        values = {k: form.get(k, "").strip() for k in TARIFF_FIELDS}
        body: dict[str, object] = {k: v for k, v in values.items() if v}
        body["default"] = form.get("default") == "on"
        answer = await views.create_tariff(_api(request), user.token, body)
        panel = await views.tariffs(_api(request), user.token)
        ctx = {"user": user, "nav": "tariffs", "panel": panel, "values": values, "errors": {}, "created": None}
        if answer.ok:
            ctx.update(values={"currency": values["currency"]}, created=answer.body)
            return render(request, "tariffs.html", ctx, status=201)
        ctx.update(errors=answer.field_errors(), problem_detail=answer.detail)
        return render(request, "tariffs.html", ctx, status=answer.status if answer.status >= 400 else 502)

    return router
