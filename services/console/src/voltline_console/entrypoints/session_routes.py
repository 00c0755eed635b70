"""A session's page: its live power/energy chart (polled as JSON by console.js) and, once ended, its CDR."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from voltline_console.domain.login import LoginSession
from voltline_console.entrypoints.rendering import HTML, SECURITY_HEADERS, current_user, render
from voltline_console.service_layer import more_views
from voltline_console.service_layer.ports import ServiceApi

SessionId = Annotated[str, Path(min_length=1, max_length=128)]
User = Annotated[LoginSession, Depends(current_user)]


class ChartOut(BaseModel):
    """The chart's series: unix seconds, kW and kWh (floats: for drawing only; the page's figures are exact)."""

    t: list[float]
    power_kw: list[float | None]
    energy_kwh: list[float | None]
    status: str | None
    error: str | None


def _api(request: Request) -> ServiceApi:
    api: ServiceApi = request.app.state.api
    return api


def build_session_router() -> APIRouter:
    router = APIRouter(tags=["console"])

    @router.get("/sessions/{session_id}/points", response_model=ChartOut)
    async def points(request: Request, response: Response, user: User, session_id: SessionId) -> ChartOut:
        series, _error = await more_views.session_points(_api(request), user.token, session_id)
        response.headers.update(SECURITY_HEADERS)
        return ChartOut(**series)

    @router.get("/sessions/{session_id}", response_class=HTMLResponse, responses=HTML)
    async def session(request: Request, user: User, session_id: SessionId) -> HTMLResponse:
        page = await more_views.session(_api(request), user.token, session_id)
        ctx = {"user": user, "nav": "sessions", "session_id": session_id, "page": page}
        return render(request, "session.html", ctx)

    return router
