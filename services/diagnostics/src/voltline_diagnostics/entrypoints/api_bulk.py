"""Bulk commands and configuration profiles (desired settings, drift, push, reboot)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import Items
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_diagnostics.entrypoints.command_schemas import BODIES
from voltline_diagnostics.service_layer.bulk import BulkService, EmptySelection, Progress
from voltline_diagnostics.service_layer.maintenance_ports import Profile
from voltline_diagnostics.service_layer.profiles import ProfileService


class Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    station_ids: list[str] | None = None
    model: str | None = None
    firmware_version: str | None = None
    status: Literal["online", "offline"] | None = None


class BulkOut(BaseModel):
    bulk_id: str
    command: str
    selection: dict[str, Any]
    total: int
    done: int
    progress: dict[str, int] = Field(description="Command records by status; `pending` not yet recorded.")
    requested_by: str
    created_at: datetime

    @classmethod
    def of(cls, p: Progress) -> BulkOut:
        total = int(p.bulk.params.get("commands", len(p.bulk.station_ids)))
        recorded = sum(p.by_status.values())
        progress = dict(p.by_status) | ({"pending": total - recorded} if total > recorded else {})
        return cls(
            bulk_id=p.bulk.bulk_id,
            command=p.bulk.command,
            selection=p.bulk.selection,
            total=max(total, recorded),
            done=p.done,
            progress=progress,
            requested_by=p.bulk.requested_by,
            created_at=p.bulk.created_at,
        )


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, max_length=50, description="Stations of this model (from their boots).")
    station_ids: list[str] | None = Field(default=None, description="Or a group of stations.")
    settings: dict[str, str] = Field(min_length=1, description="Common names, 1.6 keys or 2.x Component.Variable.")


class ProfileOut(ProfileIn):
    profile_id: str
    updated_by: str
    updated_at: datetime


class DriftItemOut(BaseModel):
    name: str
    key: str | None
    desired: str
    reported: str | None
    in_sync: bool
    reboot_required: bool
    problem: str | None


class StationDriftOut(BaseModel):
    station_id: str
    ocpp_version: str | None
    in_sync: bool
    reboot_required: bool
    settings: list[DriftItemOut]


class DriftOut(BaseModel):
    profile_id: str
    in_sync: int
    drifting: int
    items: list[StationDriftOut]


def build_bulk_router(bulk: BulkService, profiles: ProfileService) -> APIRouter:
    router = APIRouter(tags=["maintenance"])
    viewer = [Depends(require_role("viewer"))]

    async def progress_of(bulk_id: str) -> BulkOut:
        found = await bulk.progress(bulk_id)
        if found is None:
            raise Problem(404, f"No bulk command {bulk_id!r}.")
        return BulkOut.of(found)

    @router.post("/bulk-commands/{command}", status_code=202)
    async def start_bulk(
        # mypy: built at import: pydantic reads it
        command: Literal[tuple(c for c in BODIES if c != "raw")],  # type: ignore[valid-type]
        selection: Annotated[Selection, Body()],
        body: Annotated[dict[str, Any], Body(description="The command's body, as for one station.")],
        principal: OperatorPrincipal,
    ) -> BulkOut:
        """The same command for every selected station; poll `GET /bulk-commands/{bulk_id}` for progress."""
        try:
            parsed = BODIES[command].model_validate(body)
        except ValueError as exc:
            raise Problem(
                422,
                f"Invalid body for {command}: {exc}",
                extra={"errors": [{"field": "body.body", "message": str(exc)}]},
            ) from None
        params = parsed.model_dump(mode="json", exclude={"wait_for_station_s"}, exclude_none=True)
        try:
            started = await bulk.start(command, params, selection.model_dump(exclude_none=True), principal.subject)
        except EmptySelection as exc:
            raise Problem(422, str(exc), extra={"errors": [{"field": "body.selection", "message": str(exc)}]}) from None
        return await progress_of(started.bulk_id)

    @router.get("/bulk-commands/{bulk_id}", dependencies=viewer)
    async def get_bulk(bulk_id: str) -> BulkOut:
        return await progress_of(bulk_id)

    async def profile_of(profile_id: str) -> Profile:
        found = await profiles.get(profile_id)
        if found is None:
            raise Problem(404, f"No configuration profile {profile_id!r}.")
        return found

    @router.put("/configuration-profiles/{profile_id}")
    async def put_profile(profile_id: str, body: ProfileIn, principal: OperatorPrincipal) -> ProfileOut:
        if not body.model and not body.station_ids:
            raise Problem(
                422,
                "A profile needs a model or station_ids.",
                extra={"errors": [{"field": "body.model", "message": "model or station_ids required"}]},
            )
        profile = Profile(profile_id, body.model, body.station_ids, body.settings, principal.subject, datetime.now(UTC))
        await profiles.put(profile)
        return ProfileOut(**profile.__dict__)

    @router.get("/configuration-profiles", dependencies=viewer, response_model=Items[ProfileOut])
    async def list_profiles() -> dict[str, list[ProfileOut]]:
        return {"items": [ProfileOut(**p.__dict__) for p in await profiles.all()]}

    @router.get("/configuration-profiles/{profile_id}/drift", dependencies=viewer)
    async def drift(profile_id: str) -> DriftOut:
        """Desired against reported (the last configuration answers); refresh with POST .../check."""
        report = await profiles.drift(await profile_of(profile_id))
        items = [
            StationDriftOut(
                station_id=d.station_id,
                ocpp_version=d.ocpp_version,
                in_sync=d.in_sync,
                reboot_required=d.reboot_required,
                settings=[DriftItemOut(**i.__dict__) for i in d.items],
            )
            for d in report
        ]
        synced = sum(1 for d in report if d.in_sync)
        return DriftOut(profile_id=profile_id, in_sync=synced, drifting=len(report) - synced, items=items)

    @router.post("/configuration-profiles/{profile_id}/check", status_code=202)
    async def check(profile_id: str, principal: OperatorPrincipal) -> BulkOut:
        try:
            started = await profiles.check(await profile_of(profile_id), principal.subject)
        except EmptySelection as exc:
            raise Problem(409, str(exc)) from None
        return await progress_of(started.bulk_id)

    @router.post("/configuration-profiles/{profile_id}/push", status_code=202)
    async def push(profile_id: str, principal: OperatorPrincipal) -> BulkOut:
        started, _count = await profiles.push(await profile_of(profile_id), principal.subject)
        return await progress_of(started.bulk_id)

    @router.post("/configuration-profiles/{profile_id}/reboot", status_code=202)
    async def reboot(profile_id: str, principal: OperatorPrincipal) -> BulkOut:
        """Soft-reset the stations whose new settings wait for a reboot (RebootRequired)."""
        started = await profiles.reboot(await profile_of(profile_id), principal.subject)
        if started is None:
            raise Problem(409, "No station of this profile waits for a reboot.")
        return await progress_of(started.bulk_id)

    return router
