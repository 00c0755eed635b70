"""The station page's extra panels and its maintenance actions (each with a confirmation step and the result)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from voltline_console.domain.commands import ACTIONS, Action, action_body, configuration_keys
from voltline_console.domain.login import LoginSession
from voltline_console.entrypoints.rendering import HTML, SECURITY_HEADERS, Forbidden, checked_form, current_user, render
from voltline_console.service_layer import station_views
from voltline_console.service_layer.ports import ServiceApi

StationId = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[a-zA-Z0-9*\-_=:+|@.]+$")]
ActionName = Annotated[str, Path(pattern="^(" + "|".join(ACTIONS) + ")$")]
User = Annotated[LoginSession, Depends(current_user)]


def _api(request: Request) -> ServiceApi:
    api: ServiceApi = request.app.state.api
    return api


def _form(
    request: Request,
    user: LoginSession,
    station_id: str,
    action: Action,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    detail: str | None = None,
) -> HTMLResponse:
    ctx = {
        "user": user,
        "nav": "stations",
        "station_id": station_id,
        "action": action,
        "values": values,
        "errors": errors,
        "problem_detail": detail,
    }
    return render(request, "_action_confirm.html", ctx, status=status, page="action_page.html")


def build_station_router() -> APIRouter:
    router = APIRouter(tags=["console"], default_response_class=HTMLResponse)

    @router.get("/stations/{station_id}/actions/cancel", responses=HTML)
    async def cancel(request: Request, user: User, station_id: StationId) -> HTMLResponse:
        """Cancel a confirmation: an empty part for htmx (the actions stay usable), the station page otherwise."""
        if request.headers.get("HX-Request") != "true":
            return HTMLResponse("", status_code=303, headers={"Location": f"/stations/{station_id}"})
        return HTMLResponse("", headers=SECURITY_HEADERS)

    @router.get("/stations/{station_id}/actions/{name}", responses=HTML)
    async def confirm(request: Request, user: User, station_id: StationId, name: ActionName) -> HTMLResponse:
        """The action's form and confirmation (values may come prefilled, e.g. a configuration key to edit)."""
        if not user.can.write:
            raise Forbidden()
        action = ACTIONS[name]
        values = {f.name: request.query_params.get(f.name, "") for f in action.fields}
        return _form(request, user, station_id, action, values, {})

    @router.post("/stations/{station_id}/actions/{name}", responses=HTML)
    async def run(request: Request, user: User, station_id: StationId, name: ActionName) -> HTMLResponse:
        form = await checked_form(request, user)
        action = ACTIONS[name]
        values = {f.name: form.get(f.name, "") for f in action.fields}
        body, errors = action_body(action, values)
        if errors:
            return _form(request, user, station_id, action, values, errors, 422)
        answer = await station_views.run_action(_api(request), user.token, station_id, action, body)
        if answer.status == 422:
            return _form(request, user, station_id, action, values, answer.field_errors(), 422, answer.detail)
        result: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
        inner = result.get("command")
        command: dict[str, Any] = inner if isinstance(inner, dict) else result
        ctx = {
            "user": user,
            "nav": "stations",
            "station_id": station_id,
            "action": action,
            "answer": answer,
            "command": command,
            "keys": configuration_keys(command.get("response")),
        }
        return render(request, "_action_result.html", ctx, page="action_page.html")

    return router
