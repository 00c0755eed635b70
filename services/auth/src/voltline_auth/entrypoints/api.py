"""Operator API of the auth service: the station registry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from voltline_chassis.problems import Problem
from voltline_chassis.security import require_role

from voltline_auth.domain.stations import InvalidStation, Station
from voltline_auth.service_layer import stations as uc

StationIdStr = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[a-zA-Z0-9*\-_=:+|@.]+$")]
Status = Literal["Accepted", "Pending", "Rejected"]


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_id: StationIdStr
    password: SecretStr | None = Field(default=None, description="16-40 characters; for security profiles 1 and 2.")
    security_profile: int | None = Field(default=None, ge=0, le=3, description="Defaults to 1 with a password, else 0.")
    status: Status = "Accepted"


class StationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    password: SecretStr | None = None


class StationOut(BaseModel):
    station_id: str
    security_profile: int
    status: Status
    has_password: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, station: Station) -> StationOut:
        return cls(
            station_id=station.station_id,
            security_profile=station.security_profile,
            status=station.status,
            has_password=station.password_hash is not None,
            created_at=station.created_at,
            updated_at=station.updated_at,
        )


class StationList(BaseModel):
    items: list[StationOut]


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _invalid(exc: InvalidStation) -> Problem:
    return Problem(
        422, str(exc), title="Invalid station", extra={"errors": [{"field": f"body.{exc.field}", "message": str(exc)}]}
    )


def _not_found(station_id: str) -> Problem:
    return Problem(404, f"No station {station_id!r} is registered.", extra={"station_id": station_id})


def build_router(ctx: uc.StationContext) -> APIRouter:
    router = APIRouter(prefix="/stations", tags=["stations"])
    operator = [Depends(require_role("operator"))]
    viewer = [Depends(require_role("viewer"))]

    @router.post("", status_code=201, dependencies=operator)
    async def register(body: StationIn, response: Response) -> StationOut:
        try:
            station = await uc.register_station(
                ctx,
                body.station_id,
                password=_secret(body.password),
                security_profile=body.security_profile,
                status=body.status,
            )
        except InvalidStation as exc:
            raise _invalid(exc) from None
        except uc.StationExists:
            raise Problem(
                409,
                f"Station {body.station_id!r} is already registered; PATCH it to change it.",
                extra={"station_id": body.station_id},
            ) from None
        response.headers["Location"] = f"/api/v1/stations/{station.station_id}"
        return StationOut.of(station)

    @router.get("", dependencies=viewer)
    async def list_(
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> StationList:
        return StationList(
            items=[StationOut.of(s) for s in await uc.list_stations(ctx, status=status, limit=limit, offset=offset)]
        )

    @router.get("/{station_id}", dependencies=viewer)
    async def get(station_id: str) -> StationOut:
        try:
            return StationOut.of(await uc.get_station(ctx, station_id))
        except uc.StationNotFound:
            raise _not_found(station_id) from None

    @router.patch("/{station_id}", dependencies=operator)
    async def patch(station_id: str, body: StationPatch) -> StationOut:
        try:
            return StationOut.of(
                await uc.update_station(ctx, station_id, status=body.status, password=_secret(body.password))
            )
        except InvalidStation as exc:
            raise _invalid(exc) from None
        except uc.StationNotFound:
            raise _not_found(station_id) from None

    return router
