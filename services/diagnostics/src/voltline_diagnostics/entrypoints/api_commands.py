"""Command routes: `POST /stations/{station_id}/commands/{command}` (one route per command) and the records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from fastapi.responses import JSONResponse
from voltline_chassis.paging import DEFAULT_LIMIT, Limit, Offset, fetch_size, next_offset
from voltline_chassis.problems import Problem
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_diagnostics.entrypoints.command_schemas import BODIES, CommandBody, CommandList, CommandOut
from voltline_diagnostics.service_layer.commands import CommandService

StationId = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[a-zA-Z0-9*\-_=:+|@.]+$")]


def command_response(out: CommandOut, final: bool) -> JSONResponse:
    """200 with the answer, 202 while the station has not answered, 409 when it never got the command."""
    body = out.model_dump(mode="json")
    if out.status == "station_offline":
        extra = {"code": "station_offline", "command_id": out.command_id, "command_status": out.status}
        raise Problem(409, out.detail or "The station is offline.", title="Station offline", extra=extra)
    if out.status == "not_supported" and out.sent_at is None:
        extra = {"code": "not_supported", "command_id": out.command_id, "command_status": out.status}
        raise Problem(409, out.detail or "Not supported.", title="Command not supported by the station", extra=extra)
    headers = {"Location": f"/api/v1/commands/{out.command_id}"}
    return JSONResponse(body, status_code=200 if final else 202, headers=headers)


async def run_command(
    service: CommandService, station_id: str, command: str, body: CommandBody, principal: Any
) -> JSONResponse:
    params = body.model_dump(mode="json", exclude={"wait_for_station_s"}, exclude_none=True)
    outcome = await service.submit(
        station_id, command, params, principal.subject, wait_for_station_s=body.wait_for_station_s
    )
    record, final = await service.answer_within(outcome)
    return command_response(CommandOut.of(record), final)


def _endpoint(service: CommandService, command: str, body_type: type[CommandBody]) -> Callable[..., Awaitable[Any]]:
    optional = not any(f.is_required() for f in body_type.model_fields.values())

    async def endpoint(
        station_id: StationId, principal: OperatorPrincipal, body: CommandBody | None = None
    ) -> JSONResponse:
        return await run_command(service, station_id, command, body or body_type(), principal)

    # The body's type per command (for validation and OpenAPI); optional when it has no required field.
    endpoint.__annotations__ = {
        **endpoint.__annotations__,
        "body": Annotated[body_type | None, Body()] if optional else Annotated[body_type, Body()],
    }
    if not optional:
        endpoint.__defaults__ = ()
    endpoint.__name__ = f"command_{command.replace('-', '_')}"
    return endpoint


def build_command_router(service: CommandService) -> APIRouter:
    router = APIRouter(tags=["maintenance"])
    viewer = [Depends(require_role("viewer"))]
    for command, body_type in BODIES.items():
        router.add_api_route(
            f"/stations/{{station_id}}/commands/{command}",
            _endpoint(service, command, body_type),
            methods=["POST"],
            response_model=CommandOut,
            responses={202: {"model": CommandOut, "description": "Sent; the station has not answered yet."}},
            summary=f"Send {command} to a station",
            dependencies=[Depends(require_role("admin"))] if command == "raw" else [],
        )

    @router.get("/commands/{command_id}", dependencies=viewer)
    async def get_command(command_id: str) -> CommandOut:
        record = await service.get(command_id)
        if record is None:
            raise Problem(404, f"No command {command_id!r}.", extra={"command_id": command_id})
        return CommandOut.of(record)

    @router.get("/commands", dependencies=viewer)
    async def list_commands(
        station_id: str | None = None,
        status: str | None = None,
        command: str | None = None,
        requested_by: str | None = None,
        bulk_id: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> CommandList:
        """Every command ever sent, newest first: the audit log of remote maintenance."""
        records = await service.find(
            station_id=station_id,
            status=status,
            command=command,
            requested_by=requested_by,
            bulk_id=bulk_id,
            limit=fetch_size(limit),
            offset=offset,
        )
        return CommandList(
            items=[CommandOut.of(r) for r in records[:limit]], next_offset=next_offset(records, limit, offset)
        )

    return router
