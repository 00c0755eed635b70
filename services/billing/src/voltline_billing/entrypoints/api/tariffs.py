"""Tariffs (simple and OCPI forms, versioned) and their assignment to stations, groups and the default."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from voltline_chassis.paging import Page
from voltline_chassis.problems import validation_errors
from voltline_chassis.schemas import Items, returns

from voltline_billing.domain.money import check_currency
from voltline_billing.domain.ocpi import ocpi_tariff
from voltline_billing.domain.tariffs import (
    MAX_ELEMENTS,
    Percent,
    Price,
    PriceLimit,
    Tariff,
    TariffElement,
    TariffId,
    check_zone,
    simple_tariff,
)
from voltline_billing.entrypoints.api.common import (
    OPERATOR,
    VIEWER,
    Limit,
    Offset,
    fetch_size,
    invalid,
    items,
    page,
)
from voltline_billing.entrypoints.schemas.tariffs import GroupOut, OcpiTariffOut, StationTariffOut
from voltline_billing.service_layer import tariffs as uc
from voltline_billing.service_layer.context import BillingContext

StationId = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[a-zA-Z0-9*\-_=:+|@.]+$")]


class TariffIn(BaseModel):
    """Either the simple form (energy_price_per_kwh and friends) or the OCPI form (elements)."""

    model_config = ConfigDict(extra="forbid")

    tariff_id: TariffId
    currency: str
    energy_price_per_kwh: Price | None = None
    time_price_per_hour: Price | None = None
    session_fee: Price | None = None
    idle_price_per_hour: Price | None = None
    vat_percent: Percent | None = None
    elements: list[TariffElement] | None = Field(default=None, min_length=1, max_length=MAX_ELEMENTS)
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    time_zone: str = "UTC"
    default: bool = Field(default=False, description="Make it the tariff of stations without one of their own.")
    valid_from: datetime | None = Field(default=None, description="PUT only: when the new version takes effect.")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    def check_form(self) -> None:
        """Either form, complete; a 422 names the field to fix (a model validator could only name `body`)."""
        simple = any(v is not None for v in (self.energy_price_per_kwh, self.time_price_per_hour, self.session_fee,
                                             self.idle_price_per_hour))  # fmt: skip
        if simple and self.elements is not None:
            raise invalid("body.elements", "give either energy_price_per_kwh (simple form) or elements, not both")
        if self.elements is None and self.energy_price_per_kwh is None:
            raise invalid(
                "body.energy_price_per_kwh",
                "energy_price_per_kwh is required in the simple form (it may be 0); or give elements (OCPI form)",
            )

    def to_tariff(self) -> Tariff:
        if self.elements is None:
            assert self.energy_price_per_kwh is not None
            base = simple_tariff(
                self.tariff_id,
                self.currency,
                self.energy_price_per_kwh,
                time_price_per_hour=self.time_price_per_hour,
                session_fee=self.session_fee,
                idle_price_per_hour=self.idle_price_per_hour,
                vat_percent=self.vat_percent,
            )
            limits = {"min_price": self.min_price, "max_price": self.max_price, "time_zone": self.time_zone}
            return Tariff.model_validate(base.model_dump() | limits)
        return Tariff(
            tariff_id=self.tariff_id, currency=self.currency, elements=self.elements, min_price=self.min_price,
            max_price=self.max_price, vat_percent=self.vat_percent, time_zone=self.time_zone,
        )  # fmt: skip


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tariff_id: TariffId


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tariff_id: TariffId | None = None
    station_ids: list[StationId] = Field(default_factory=list)


def tariff_json(tariff: Tariff) -> dict[str, Any]:
    return tariff.model_dump(mode="json")


def build_router(ctx: BillingContext) -> APIRouter:
    router = APIRouter(tags=["tariffs"])

    def parse(body: TariffIn) -> Tariff:
        body.check_form()
        try:
            return body.to_tariff()
        except ValidationError as exc:  # a rule of the whole tariff: name its field, not `body`
            first = validation_errors(exc.errors())[0]
            raise invalid(f"body.{first['field']}", first["message"]) from None
        except ValueError as exc:
            raise invalid("body", str(exc).splitlines()[-1] if str(exc) else "invalid tariff") from None

    @router.post("/tariffs", status_code=201, dependencies=OPERATOR, **returns(Tariff))
    async def create(body: TariffIn, response: Response) -> dict[str, Any]:
        tariff = await uc.create_tariff(ctx, parse(body), default=body.default)
        response.headers["Location"] = f"/api/v1/tariffs/{tariff.tariff_id}"
        return tariff_json(tariff)

    @router.put("/tariffs/{tariff_id}", dependencies=OPERATOR, **returns(Tariff))
    async def new_version(tariff_id: str, body: TariffIn) -> dict[str, Any]:
        if body.tariff_id != tariff_id:
            raise invalid("body.tariff_id", f"the body names tariff {body.tariff_id!r}, the path {tariff_id!r}")
        tariff = parse(body)
        return tariff_json(await uc.new_version(ctx, tariff, valid_from=body.valid_from, default=body.default))

    @router.get("/tariffs", dependencies=VIEWER, **returns(Page[Tariff]))
    async def list_(limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        return page([tariff_json(t) for t in await uc.list_tariffs(ctx, fetch_size(limit), offset)], limit, offset)

    @router.get("/tariffs/{tariff_id}", dependencies=VIEWER, **returns(Tariff))
    async def get(tariff_id: str, version: int | None = None) -> dict[str, Any]:
        return tariff_json(await uc.get_tariff(ctx, tariff_id, version))

    @router.get("/tariffs/{tariff_id}/versions", dependencies=VIEWER, **returns(Items[Tariff]))
    async def list_versions(tariff_id: str) -> dict[str, Any]:
        return items([tariff_json(t) for t in await uc.versions(ctx, tariff_id)])

    @router.get("/tariffs/{tariff_id}/ocpi", dependencies=VIEWER, **returns(OcpiTariffOut))
    async def as_ocpi(tariff_id: str, version: int | None = None) -> dict[str, Any]:
        tariff = await uc.get_tariff(ctx, tariff_id, version)
        c = ctx.config
        return ocpi_tariff(tariff, c.ocpi_country_code, c.ocpi_party_id, tariff.valid_from or ctx.clock())

    @router.put("/stations/{station_id}/tariff", dependencies=OPERATOR, **returns(StationTariffOut))
    async def assign(station_id: StationId, body: AssignIn) -> dict[str, Any]:
        await uc.assign_station(ctx, station_id, body.tariff_id)
        return await station_tariff(station_id)

    @router.get("/stations/{station_id}/tariff", dependencies=VIEWER, **returns(StationTariffOut))
    async def station_tariff(station_id: str, at: datetime | None = None) -> dict[str, Any]:
        found = await uc.tariff_for_station(ctx, station_id, at)
        return {"station_id": station_id, "tariff_id": found.tariff.tariff_id, "version": found.tariff.version,
                "source": found.source, "tariff": tariff_json(found.tariff)}  # fmt: skip

    @router.put("/station-groups/{group_id}", dependencies=OPERATOR, **returns(GroupOut))
    async def group(group_id: str, body: GroupIn) -> dict[str, Any]:
        members = await uc.set_group(ctx, group_id, body.tariff_id, body.station_ids)
        return {"group_id": group_id, "tariff_id": body.tariff_id, "station_ids": members}

    return router
