"""Log routes: ask a station for its log, follow the request, download the file; and the stations' upload route."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from voltline_chassis.paging import DEFAULT_LIMIT, Limit, Offset, fetch_size, next_offset
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import media
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_diagnostics.adapters.uploads import BadUpload, UploadTooLarge, boundary_of, first_part, spool
from voltline_diagnostics.domain.commands import CommandNotPossible
from voltline_diagnostics.entrypoints.api_commands import StationId, command_response
from voltline_diagnostics.entrypoints.command_schemas import CommandOut
from voltline_diagnostics.service_layer.logs import LogService, UploadRefused
from voltline_diagnostics.service_layer.maintenance_ports import LogUpload


class LogRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log_type: Literal["diagnostics", "security"] = "diagnostics"
    transport: Literal["http", "ftp"] = "http"
    from_: AwareDatetime | None = Field(default=None, alias="from")
    to: AwareDatetime | None = None
    retries: int | None = Field(default=None, ge=0, le=100)
    retry_interval_s: int | None = Field(default=None, ge=0, le=86400)
    wait_for_station_s: float | None = Field(default=None, gt=0)


class LogOut(BaseModel):
    log_id: str
    station_id: str
    log_type: str
    transport: str
    request_id: int
    command_id: str | None
    status: str = Field(description="requested | uploaded | upload_failed | not_requested")
    station_status: str | None = Field(description="The station's last DiagnosticsStatus/LogStatus notification.")
    file_name: str | None
    size_bytes: int | None
    sha256: str | None
    requested_by: str
    created_at: datetime
    uploaded_at: datetime | None
    download: str | None

    @classmethod
    def of(cls, r: LogUpload) -> LogOut:
        return cls(
            **{k: v for k, v in r.__dict__.items() if k in cls.model_fields},
            download=f"/api/v1/logs/{r.log_id}/file" if r.uploaded_at else None,
        )


class LogList(BaseModel):
    items: list[LogOut]
    next_offset: int | None = Field(default=None, description="Offset of the next page; null on the last one.")


def _rfc3339(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def build_log_router(logs: LogService) -> APIRouter:
    router = APIRouter(tags=["maintenance"])
    viewer = [Depends(require_role("viewer"))]

    @router.post("/stations/{station_id}/logs", response_model=LogOut, status_code=200)
    async def request_log(station_id: StationId, body: LogRequest, principal: OperatorPrincipal) -> JSONResponse:
        """GetDiagnostics (1.6) or GetLog (1.6 security extension, 2.x) with a one-time upload location."""
        params = {
            "log_type": body.log_type,
            "transport": body.transport,
            "from": _rfc3339(body.from_),
            "to": _rfc3339(body.to),
            "retries": body.retries,
            "retry_interval_s": body.retry_interval_s,
        }
        params = {k: v for k, v in params.items() if v is not None}
        try:
            record, outcome = await logs.request(station_id, params, principal.subject, body.wait_for_station_s)
        except CommandNotPossible as exc:
            raise Problem(422, str(exc), extra={"errors": [{"field": "body", "message": str(exc)}]}) from None
        except ValueError as exc:
            raise Problem(422, str(exc), extra={"errors": [{"field": "body.transport", "message": str(exc)}]}) from None
        command, final = await logs.commands.answer_within(outcome)
        record = await logs.settle(record, command)
        response = command_response(CommandOut.of(command), final)  # raises 409 for an offline station
        body_out = LogOut.of(record).model_dump(mode="json") | {
            "command": CommandOut.of(command).model_dump(mode="json")
        }
        return JSONResponse(
            body_out, status_code=response.status_code, headers={"Location": f"/api/v1/logs/{record.log_id}"}
        )

    @router.get("/logs", dependencies=viewer)
    async def list_logs(
        station_id: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> LogList:
        found = await logs.find(station_id, fetch_size(limit), offset)
        return LogList(items=[LogOut.of(r) for r in found[:limit]], next_offset=next_offset(found, limit, offset))

    @router.get("/logs/{log_id}", dependencies=viewer)
    async def get_log(log_id: str) -> LogOut:
        record = await logs.get(log_id)
        if record is None:
            raise Problem(404, f"No log request {log_id!r}.", extra={"log_id": log_id})
        return LogOut.of(record)

    @router.get(
        "/logs/{log_id}/file",
        dependencies=viewer,
        response_class=FileResponse,
        responses=media("application/octet-stream", "The uploaded log file", binary=True),
    )
    async def download(log_id: str) -> FileResponse:
        record = await logs.get(log_id)
        if record is None:
            raise Problem(404, f"No log request {log_id!r}.", extra={"log_id": log_id})
        path = logs.storage.path(record.storage_key) if record.uploaded_at else None
        if path is None or not path.exists():
            raise Problem(404, f"Log {log_id} has not been uploaded (yet).", extra={"log_id": log_id})
        return FileResponse(path, filename=record.file_name, media_type="application/octet-stream")

    return router


def build_upload_router(logs: LogService) -> APIRouter:
    """Where stations upload (no bearer token: the one-time token in the path is the credential)."""
    router = APIRouter(tags=["uploads"])

    async def receive(token: str, request: Request, file_name: str | None) -> JSONResponse:
        if not await logs.token_valid(token):
            raise Problem(404, "Unknown, used or expired upload location.")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > logs.max_bytes + 65536:
            raise Problem(413, f"Uploads are limited to {logs.max_bytes} bytes.")
        try:
            temp, size = await spool(request.stream(), logs.storage.incoming(), logs.max_bytes + 65536)
            boundary = boundary_of(request.headers.get("content-type", ""))
            if boundary is not None:
                temp, part_name, size = first_part(temp, boundary)
                file_name = part_name or file_name
            if size > logs.max_bytes:
                temp.unlink(missing_ok=True)
                raise UploadTooLarge(f"the upload is larger than the limit of {logs.max_bytes} bytes")
            record = await logs.accept(token, file_name, temp, size)
        except UploadTooLarge as exc:
            raise Problem(413, str(exc)) from None
        except BadUpload as exc:
            raise Problem(400, str(exc)) from None
        except UploadRefused as exc:
            raise Problem(exc.status, str(exc)) from None
        return JSONResponse({"log_id": record.log_id, "size_bytes": record.size_bytes}, status_code=201)

    @router.api_route("/uploads/{token}", methods=["POST", "PUT"], include_in_schema=False)
    async def upload(token: str, request: Request) -> JSONResponse:
        return await receive(token, request, None)

    @router.api_route("/uploads/{token}/{file_name}", methods=["POST", "PUT"], include_in_schema=False)
    async def upload_named(token: str, file_name: str, request: Request) -> JSONResponse:
        return await receive(token, request, file_name)

    return router
