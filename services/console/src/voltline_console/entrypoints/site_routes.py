"""Locations (list, create, edit), the EVSEs' QR codes and the live stream proxied from diagnostics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from voltline_chassis.schemas import media

from voltline_console.domain.login import LoginSession
from voltline_console.domain.sites import SITE_FIELDS, form_values, location_body
from voltline_console.entrypoints.rendering import (
    HTML,
    SECURITY_HEADERS,
    Forbidden,
    checked_form,
    current_user,
    render,
)
from voltline_console.service_layer import site_views
from voltline_console.service_layer.ports import ServiceApi

User = Annotated[LoginSession, Depends(current_user)]
LocationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,36}$")]
StationId = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[a-zA-Z0-9*\-_=:+|@.]+$")]
EvseId = Annotated[int, Path(ge=1, le=99)]
SVG = media("image/svg+xml", "The EVSE's QR code (billing's), to print")
SSE = media("text/event-stream", "diagnostics' live events, passed through with the user's key")
RETRY_MS = 10_000  # how long a browser waits before it reconnects a stream that ended


def _api(request: Request) -> ServiceApi:
    api: ServiceApi = request.app.state.api
    return api


def _form_page(
    request: Request,
    user: LoginSession,
    values: dict[str, str],
    *,
    create: bool,
    errors: dict[str, str] | None = None,
    detail: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = {"user": user, "nav": "locations", "values": values, "errors": errors or {}, "create": create,
           "problem_detail": detail}  # fmt: skip
    return render(request, "location_form.html", ctx, status=status)


def build_site_router() -> APIRouter:
    router = APIRouter(tags=["console"], default_response_class=HTMLResponse)

    @router.get("/locations", responses=HTML)
    async def locations(request: Request, user: User, saved: str = "") -> HTMLResponse:
        panel = await site_views.locations(_api(request), user.token)
        return render(request, "locations.html", {"user": user, "nav": "locations", "panel": panel, "saved": saved})

    @router.get("/locations/new", responses=HTML)
    async def new(request: Request, user: User) -> HTMLResponse:
        if not user.can.write:
            raise Forbidden()
        return _form_page(request, user, {"country": "DEU", "time_zone": "Europe/Berlin"}, create=True)

    @router.post("/locations", responses=HTML)
    async def create(request: Request, user: User) -> Response:
        form = await checked_form(request, user)
        return await _save(request, user, form, None)

    @router.get("/locations/{location_id}/edit", responses=HTML)
    async def edit(request: Request, user: User, location_id: LocationId) -> HTMLResponse:
        if not user.can.write:
            raise Forbidden()
        found = await site_views.location(_api(request), user.token, location_id)
        if found.error is not None:
            return render(request, "error.html", {"user": user, "message": found.error}, status=404)
        return _form_page(request, user, form_values(found.data), create=False)

    @router.post("/locations/{location_id}/edit", responses=HTML)
    async def replace(request: Request, user: User, location_id: LocationId) -> Response:
        form = await checked_form(request, user)
        return await _save(request, user, {**form, "location_id": location_id}, location_id)

    async def _save(request: Request, user: LoginSession, form: dict[str, str], editing: str | None) -> Response:
        values = {k: form.get(k, "") for k in SITE_FIELDS}
        before: dict[str, Any] | None = None
        if editing is not None:  # keep what the form does not show (opening times, described EVSEs)
            found = await site_views.location(_api(request), user.token, editing)
            before = found.data if isinstance(found.data, dict) else None
        saved = await site_views.save(_api(request), user.token, location_body(values, before), create=editing is None)
        if saved.answer.ok:
            target = f"/locations?saved={values['location_id']}"
            return Response(status_code=303, headers={"Location": target, **SECURITY_HEADERS})
        detail = None if saved.errors else saved.answer.detail
        return _form_page(request, user, values, create=editing is None, errors=saved.errors, detail=detail,
                          status=saved.answer.status)  # fmt: skip

    @router.get("/stations/{station_id}/evses/{evse_id}/qr.svg", response_class=Response, responses=SVG)
    async def qr(
        request: Request, user: User, station_id: StationId, evse_id: EvseId, download: bool = False
    ) -> Response:
        """Billing's QR code of the EVSE's payment page, shown on the station page or downloaded to print."""
        answer = await site_views.qr_svg(_api(request), user.token, station_id, evse_id)
        if not answer.ok or not isinstance(answer.body, str):
            return render(request, "error.html", {"user": user, "message": answer.detail}, status=502)
        headers = dict(SECURITY_HEADERS)
        if download:
            headers["Content-Disposition"] = f'attachment; filename="qr-{station_id}-evse-{evse_id}.svg"'
        return Response(answer.body, media_type="image/svg+xml", headers=headers)

    @router.get("/live", response_class=StreamingResponse, responses=SSE)
    async def live(
        request: Request, user: User, station_id: Annotated[str | None, Query(max_length=48)] = None
    ) -> StreamingResponse:
        """diagnostics' stream of status and alert changes with the user's key: pages refresh their live parts
        on each event instead of polling (they poll again while the stream is down)."""
        params = {"station_id": station_id} if station_id else {}

        async def events() -> AsyncIterator[bytes]:
            yield f"retry: {RETRY_MS}\n\n".encode()
            async for chunk in _api(request).stream("diagnostics", "/stream", user.token, params=params):
                yield chunk

        headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return router
