"""Operator API: the station registry, password rotation, and syncing stations on demand."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictInt
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_auth.domain.stations import Station
from voltline_auth.domain.sync import StationSync
from voltline_auth.entrypoints.common import (
    Limit,
    ListIdStr,
    Offset,
    Page,
    StationIdStr,
    conflict,
    fetch_size,
    invalid,
)
from voltline_auth.service_layer import rotation
from voltline_auth.service_layer import stations as uc
from voltline_auth.service_layer.context import AuthContext
from voltline_auth.service_layer.sync import StationSyncer

Status = Literal["Accepted", "Pending", "Rejected"]
Fingerprint = Field(default=None, description="Profile 3: SHA-256 of the expected client certificate (hex).")


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_id: StationIdStr
    password: SecretStr | None = Field(default=None, description="16-40 characters; for security profiles 1 and 2.")
    security_profile: StrictInt | None = Field(
        default=None, ge=0, le=3, description="Defaults to 1 with a password, else 0."
    )
    status: Status = "Accepted"
    certificate_fingerprint: str | None = Fingerprint
    local_list: ListIdStr | None = Field(default=None, description="The local authorisation list it should hold.")


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stations: list[StationIn] = Field(min_length=1, max_length=1000, description="Registered together, or none.")


class BulkOut(BaseModel):
    items: list[StationOut]


class StationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    password: SecretStr | None = Field(default=None, description="Set without telling the station; see rotation.")
    security_profile: StrictInt | None = Field(default=None, ge=0, le=3)
    certificate_fingerprint: str | None = Fingerprint
    local_list: ListIdStr | None = None


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: SecretStr | None = Field(default=None, description="Omit to have a random one generated (never shown).")


class SyncOut(BaseModel):
    connected: bool
    ocpp_version: str | None
    local_list_on_station: str | None
    local_list_version_on_station: int | None
    local_list_supported: bool
    cache_clear_pending: bool
    pending: bool
    last_error: str | None
    last_synced_at: datetime | None

    @classmethod
    def of(cls, s: StationSync) -> SyncOut:
        return cls(
            connected=s.connected,
            ocpp_version=s.ocpp_version,
            local_list_on_station=s.list_on_station,
            local_list_version_on_station=s.list_version_on_station,
            local_list_supported=s.list_supported,
            cache_clear_pending=s.cache_clear_pending,
            pending=s.pending,
            last_error=s.last_error,
            last_synced_at=s.last_synced_at,
        )


class StationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1",
                    "security_profile": 1,
                    "status": "Accepted",
                    "has_password": True,
                    "certificate_fingerprint": None,
                    "local_list": None,
                    "sync": None,
                    "created_at": "2026-11-20T10:00:00Z",
                    "updated_at": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )

    station_id: str
    security_profile: int
    status: Status
    has_password: bool
    certificate_fingerprint: str | None
    local_list: str | None
    sync: SyncOut | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, station: Station, sync: StationSync | None = None) -> StationOut:
        return cls(
            station_id=station.station_id,
            security_profile=station.security_profile,
            status=station.status,
            has_password=station.password_hash is not None,
            certificate_fingerprint=station.certificate_fingerprint,
            local_list=sync.local_list if sync else None,
            sync=SyncOut.of(sync) if sync else None,
            created_at=station.created_at,
            updated_at=station.updated_at,
        )


class RotationOut(BaseModel):
    station: StationOut
    station_answer: str | None = Field(description="What the station said: Accepted or RebootRequired.")


class SyncReportOut(BaseModel):
    station_id: str
    ok: bool
    retry: bool
    error: str | None
    steps: list[str]


class ListVersionOut(BaseModel):
    station_id: str
    version: int | None = Field(description="What GetLocalListVersion answered (0: no list; 1.6 -1: unsupported).")


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_router(ctx: AuthContext, syncer: StationSyncer) -> APIRouter:
    router = APIRouter(prefix="/stations", tags=["stations"])
    viewer = [Depends(require_role("viewer"))]

    async def _out(station_id: str) -> StationOut:
        return StationOut.of(*await uc.get_station(ctx, station_id))

    @router.post("", status_code=201)
    async def register(body: StationIn, response: Response, who: OperatorPrincipal) -> StationOut:
        station = await uc.register_station(
            ctx,
            body.station_id,
            password=_secret(body.password),
            security_profile=body.security_profile,
            status=body.status,
            certificate_fingerprint=body.certificate_fingerprint,
            local_list=body.local_list,
            actor=who.subject,
        )
        response.headers["Location"] = f"/api/v1/stations/{station.station_id}"
        return await _out(station.station_id)

    @router.post("/bulk", status_code=201)
    async def register_many(body: BulkIn, who: OperatorPrincipal) -> BulkOut:
        """Register up to 1,000 stations in one transaction (all or none)."""
        ids = [s.station_id for s in body.stations]
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
        if duplicates:
            raise invalid(
                "stations", f"station ids appear twice: {', '.join(duplicates[:20])}", title="Invalid station"
            )
        batch = [
            uc.NewStation(
                s.station_id, _secret(s.password), s.security_profile, s.status, s.certificate_fingerprint, s.local_list
            )
            for s in body.stations
        ]
        try:
            stations = await uc.register_stations(ctx, batch, actor=who.subject)
        except uc.StationExists as exc:  # all or none: name every station already there
            raise conflict(
                "Some stations are already registered; nothing was registered.", station_ids=list(exc.args)[:100]
            ) from None
        return BulkOut(items=[StationOut.of(s) for s in stations])

    @router.get("", dependencies=viewer)
    async def list_(status: Status | None = None, limit: Limit = 100, offset: Offset = 0) -> Page[StationOut]:
        found = await uc.list_stations(ctx, status=status, limit=fetch_size(limit), offset=offset)
        return Page[StationOut].of([StationOut.of(s, sync) for s, sync in found], limit, offset)

    @router.get("/{station_id}", dependencies=viewer)
    async def get(station_id: str) -> StationOut:
        return await _out(station_id)

    @router.patch("/{station_id}")
    async def patch(station_id: str, body: StationPatch, who: OperatorPrincipal) -> StationOut:
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        if "password" in changes:
            changes["password"] = _secret(changes["password"])
        await uc.update_station(ctx, station_id, changes, actor=who.subject)
        return await _out(station_id)

    @router.delete("/{station_id}", status_code=204)
    async def delete(station_id: str, who: OperatorPrincipal) -> Response:
        await uc.delete_station(ctx, station_id, actor=who.subject)
        return Response(status_code=204)

    @router.post("/{station_id}/password-rotation")
    async def rotate(station_id: str, body: RotationIn, who: OperatorPrincipal) -> RotationOut:
        """Send a new password to the station; the registry switches only once the station accepted it."""
        done = await rotation.rotate_password(ctx, station_id, _secret(body.password), actor=who.subject)
        return RotationOut(station=await _out(station_id), station_answer=done.station_answer)

    @router.post("/{station_id}/sync")
    async def sync(station_id: str, _who: OperatorPrincipal) -> SyncReportOut:
        """Do now what the station is owed: clear its cache if pending, install its local list."""
        report = await syncer.sync_station(station_id)
        return SyncReportOut(**report.__dict__)

    @router.post("/{station_id}/local-list-version")
    async def list_version(station_id: str, _who: OperatorPrincipal) -> ListVersionOut:
        """Ask the station which local list version it holds; a surprise schedules a Full update."""
        version = await syncer.local_list_version(station_id)
        return ListVersionOut(station_id=station_id, version=version)

    return router
