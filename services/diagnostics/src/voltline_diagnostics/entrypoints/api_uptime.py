"""Uptime per station (NEVI or UK method) with its evidence, and operator-declared exclusions."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import uuid4

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field, model_validator
from voltline_chassis.schemas import Items, returns
from voltline_chassis.security import OperatorPrincipal, require_role
from voltline_events.payloads import UptimeExclusionDeclared

from voltline_diagnostics.adapters.views import iso
from voltline_diagnostics.domain.uptime import EXCLUSION_REASONS
from voltline_diagnostics.entrypoints.api_status import not_found, period
from voltline_diagnostics.entrypoints.schemas.inventory import ExclusionOut, UptimeOut
from voltline_diagnostics.service_layer import alerting
from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.uptime import network_uptime, station_uptime

Reason = Literal[
    "planned_maintenance",
    "grid_outage",
    "vandalism",
    "natural_disaster",
    "network_outage",
    "operator_unavailable",
    "other",
]
assert set(Reason.__args__) == set(EXCLUSION_REASONS)  # type: ignore[attr-defined]  # Literal's __args__ is untyped


class ExclusionIn(BaseModel):
    station_id: str = Field(min_length=1, max_length=48)
    evse_id: int | None = Field(default=None, ge=0, description="Absent: the whole station.")
    connector_id: int | None = Field(default=None, ge=0)
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime
    reason: Reason
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _ordered(self) -> ExclusionIn:
        if self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        return self


def build_router(ctx: HealthContext) -> APIRouter:
    router = APIRouter(tags=["uptime"])
    viewer = [Depends(require_role("viewer"))]

    @router.get("/uptime", dependencies=viewer, **returns(UptimeOut))
    async def get_uptime(
        station_id: str | None = None,
        from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        to: AwareDatetime | None = None,
        method: Literal["nevi", "uk"] = "nevi",
    ) -> dict[str, Any]:
        """Uptime for the period (default: the last 30 days), its outages and the exclusions applied; without
        `station_id`, every station's figure and the network average."""
        start, end = period(from_, to, timedelta(days=30))
        if station_id is None:
            return await network_uptime(ctx, start, end, method)
        result = await station_uptime(ctx, station_id, start, end, method)
        if result is None:
            raise not_found(station_id)
        return result

    @router.post("/uptime/exclusions", status_code=201, **returns(ExclusionOut))
    async def exclude(body: ExclusionIn, who: OperatorPrincipal) -> dict[str, Any]:
        values = {
            "exclusion_id": str(uuid4()),
            "station_id": body.station_id,
            "evse_id": body.evse_id,
            "connector_id": body.connector_id,
            "starts_at": body.from_,
            "ends_at": body.to,
            "reason": body.reason,
            "note": body.note,
            "created_by": who.subject,
            "created_at": ctx.clock(),
        }
        announced = UptimeExclusionDeclared(
            exclusion_id=values["exclusion_id"], evse_id=body.evse_id, connector_id=body.connector_id,
            starts_at=body.from_, ends_at=body.to, reason=body.reason, declared_at=values["created_at"],
        )  # fmt: skip
        async with ctx.uow() as uow:
            await uow.exclusions.add(**values)
            alerting.publish(ctx, uow, announced, body.station_id)  # analytics' NEVI export excludes it too
            await uow.commit()
        return _exclusion(values)

    @router.get("/uptime/exclusions", dependencies=viewer, **returns(Items[ExclusionOut]))
    async def exclusions(
        station_id: str | None = None,
        from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        to: AwareDatetime | None = None,
    ) -> dict[str, Any]:
        start, end = period(from_, to, timedelta(days=365))
        async with ctx.uow() as uow:
            found = await uow.exclusions.overlapping(station_id, start, end)
        return {"items": [_exclusion(x) for x in found]}

    return router


def _exclusion(x: dict[str, Any]) -> dict[str, Any]:
    return {
        "exclusion_id": x["exclusion_id"],
        "station_id": x["station_id"],
        "evse_id": x["evse_id"],
        "connector_id": x["connector_id"],
        "from": iso(x["starts_at"]),
        "to": iso(x["ends_at"]),
        "reason": x["reason"],
        "note": x["note"],
        "created_by": x["created_by"],
    }
