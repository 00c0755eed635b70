"""Firmware routes: the catalogue (register a URL or upload a file), files served to stations with HTTP range
requests, and campaigns with per-station progress, pause, resume and cancel."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_chassis.problems import Problem
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_diagnostics.adapters.firmware_records import FirmwareRecords
from voltline_diagnostics.adapters.storage import LocalFolderStorage, safe_name
from voltline_diagnostics.adapters.uploads import spool
from voltline_diagnostics.service_layer.campaigns import CampaignError, CampaignService, Selection
from voltline_diagnostics.service_layer.maintenance_ports import Campaign, Firmware, TargetRow

FIRMWARE_MAX_BYTES = 2 * 1024**3


class FirmwareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    firmware_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    version: str = Field(min_length=1, max_length=50, description="What stations report after the update.")
    vendor: str | None = Field(default=None, max_length=50)
    model: str | None = Field(default=None, max_length=50)
    url: str | None = Field(default=None, max_length=512, description="Where stations fetch it, if not uploaded.")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    signing_certificate: str | None = Field(default=None, max_length=5500, description="PEM, for signed updates.")
    signature: str | None = Field(default=None, max_length=800, description="Base64 signature of the file.")


class FirmwareOut(FirmwareIn):
    file_name: str | None
    size_bytes: int | None
    created_at: datetime

    @classmethod
    def of(cls, f: Firmware) -> FirmwareOut:
        return cls(**f.__dict__)


class FirmwareList(BaseModel):
    items: list[FirmwareOut]


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    firmware_id: str
    stations: list[str] | None = Field(default=None, description="Explicit stations; else model and versions.")
    model: str | None = Field(default=None, description="Default: the firmware's model.")
    from_versions: list[str] | None = Field(default=None, description="Only stations running these versions.")
    canary_size: int = Field(default=1, ge=1)
    batch_size: int = Field(default=10, ge=1)
    failure_threshold_percent: Decimal = Field(default=Decimal(20), ge=0, le=100)
    min_finished: int | None = Field(
        default=None, ge=1, description="Judge the failure rate from this many; default canary size."
    )
    station_timeout_s: int = Field(default=3600, ge=1, description="From sending the update to the new version's boot.")
    force: bool = Field(default=False, description="Update stations even while they charge.")


class TargetOut(BaseModel):
    station_id: str
    state: str
    batch: int | None
    from_version: str | None
    last_status: str | None
    reason: str | None
    started_at: datetime | None
    finished_at: datetime | None


class CampaignOut(BaseModel):
    campaign_id: str
    firmware_id: str
    status: str
    reason: str | None
    canary_size: int
    batch_size: int
    failure_threshold_percent: Decimal
    station_timeout_s: int
    force: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    progress: dict[str, int]
    stations: list[TargetOut] | None = None

    @classmethod
    def of(cls, c: Campaign, targets: list[TargetRow] | None = None) -> CampaignOut:
        fields = {k: v for k, v in c.__dict__.items() if k in cls.model_fields}
        progress = dict(Counter(t.state for t in targets or []))
        stations = (
            [TargetOut(**{k: v for k, v in t.__dict__.items() if k in TargetOut.model_fields}) for t in targets]
            if targets is not None
            else None
        )
        return cls(**fields, progress=progress, stations=stations)


class CampaignList(BaseModel):
    items: list[CampaignOut]


class StationFirmwareOut(BaseModel):
    station_id: str
    vendor: str | None
    model: str | None
    firmware_version: str | None
    booted_at: datetime | None
    connectors: dict[str, str]


class StationFirmwareList(BaseModel):
    items: list[StationFirmwareOut]


def build_firmware_router(
    sessions: async_sessionmaker[AsyncSession], storage: LocalFolderStorage, campaigns: CampaignService
) -> APIRouter:
    router = APIRouter(tags=["maintenance"])
    viewer = [Depends(require_role("viewer"))]
    operator = [Depends(require_role("operator"))]

    @router.post("/firmware", status_code=201, dependencies=operator)
    async def register_firmware(body: FirmwareIn) -> FirmwareOut:
        firmware = Firmware(**body.model_dump(), file_name=None, size_bytes=None, created_at=datetime.now(UTC))
        async with sessions() as db:
            if not await FirmwareRecords(db).add_firmware(firmware):
                raise Problem(
                    409, f"Firmware {body.firmware_id!r} exists already.", extra={"firmware_id": body.firmware_id}
                )
            await db.commit()
        return FirmwareOut.of(firmware)

    @router.put("/firmware/{firmware_id}/file", dependencies=operator)
    async def upload_firmware(
        firmware_id: str, request: Request, file_name: Annotated[str, Query(min_length=1, max_length=200)]
    ) -> FirmwareOut:
        """The image as the raw body (application/octet-stream); the service then serves it to stations."""
        async with sessions() as db:
            firmware = await FirmwareRecords(db).firmware(firmware_id)
        if firmware is None:
            raise Problem(404, f"No firmware {firmware_id!r}; register it first.")
        temp, size = await spool(request.stream(), storage.incoming(), FIRMWARE_MAX_BYTES)
        digest = await asyncio.to_thread(lambda: hashlib.sha256(temp.read_bytes()).hexdigest())
        if firmware.sha256 and firmware.sha256 != digest:
            await asyncio.to_thread(temp.unlink)
            raise Problem(
                422,
                "The file's SHA-256 is not the registered one.",
                extra={"errors": [{"field": "body", "message": "checksum mismatch"}]},
            )
        name = safe_name(file_name, "firmware.bin")
        stored = Firmware(**{**firmware.__dict__, "file_name": name, "size_bytes": size, "sha256": digest})
        await asyncio.to_thread(storage.put, stored.storage_key, temp)
        async with sessions() as db:
            await FirmwareRecords(db).update_firmware(firmware_id, file_name=name, size_bytes=size, sha256=digest)
            await db.commit()
        return FirmwareOut.of(stored)

    @router.get("/firmware", dependencies=viewer)
    async def list_firmware() -> FirmwareList:
        async with sessions() as db:
            return FirmwareList(items=[FirmwareOut.of(f) for f in await FirmwareRecords(db).all_firmware()])

    @router.get("/station-firmware", dependencies=viewer)
    async def station_firmware(model: str | None = None, firmware_version: str | None = None) -> StationFirmwareList:
        """What each station runs, from its last BootNotification, and its connectors' last status."""
        found = await campaigns.stations(model, firmware_version)
        return StationFirmwareList(items=[StationFirmwareOut(**s.__dict__) for s in found])

    @router.post("/firmware-campaigns", status_code=201, dependencies=operator)
    async def create_campaign(body: CampaignIn, principal: OperatorPrincipal) -> CampaignOut:
        options = body.model_dump(
            include={"canary_size", "batch_size", "failure_threshold_percent", "station_timeout_s", "force"}
        )
        options["min_finished"] = body.min_finished or body.canary_size
        selection = Selection(body.stations, body.model, body.from_versions)
        try:
            campaign = await campaigns.create(body.firmware_id, selection, options, principal.subject)
        except CampaignError as exc:
            field = f"body.{exc.field}" if exc.field else "body"
            raise Problem(422, str(exc), extra={"errors": [{"field": field, "message": str(exc)}]}) from None
        found = await campaigns.get(campaign.campaign_id)
        assert found is not None
        return CampaignOut.of(*found)

    @router.get("/firmware-campaigns", dependencies=viewer)
    async def list_campaigns() -> CampaignList:
        return CampaignList(items=[CampaignOut.of(c) for c in await campaigns.list()])

    @router.get("/firmware-campaigns/{campaign_id}", dependencies=viewer)
    async def get_campaign(campaign_id: str) -> CampaignOut:
        found = await campaigns.get(campaign_id)
        if found is None:
            raise Problem(404, f"No campaign {campaign_id!r}.")
        return CampaignOut.of(*found)

    @router.post("/firmware-campaigns/{campaign_id}/{action}", dependencies=operator)
    async def control(campaign_id: str, action: Literal["pause", "resume", "cancel"]) -> CampaignOut:
        try:
            await campaigns.control(campaign_id, action)
        except LookupError:
            raise Problem(404, f"No campaign {campaign_id!r}.") from None
        except CampaignError as exc:
            raise Problem(409, str(exc)) from None
        found = await campaigns.get(campaign_id)
        assert found is not None
        return CampaignOut.of(*found)

    return router


def build_firmware_files_router(sessions: async_sessionmaker[AsyncSession], storage: LocalFolderStorage) -> APIRouter:
    """Firmware images for stations (no token: stations fetch by URL); Range requests resume downloads."""
    router = APIRouter(tags=["firmware files"])

    @router.get("/firmware/{firmware_id}/{file_name}", include_in_schema=False)
    async def serve(firmware_id: str, file_name: str) -> FileResponse:
        async with sessions() as db:
            firmware = await FirmwareRecords(db).firmware(firmware_id)
        if firmware is None or firmware.file_name != file_name:
            raise Problem(404, "No such firmware file.")
        path = storage.path(firmware.storage_key)
        if path is None or not path.exists():
            raise Problem(404, "No such firmware file.")
        return FileResponse(path, filename=file_name, media_type="application/octet-stream")

    return router
