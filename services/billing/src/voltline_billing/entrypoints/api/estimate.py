"""`GET /api/v1/price-estimate`: what a planned session will cost, for anyone (no token; docs/billing.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ConfigDict, Field
from voltline_chassis.schemas import DecimalText, ResponseModel, Timestamp

from voltline_billing.domain.money import fmt
from voltline_billing.entrypoints.schemas.cdrs import LineOut
from voltline_billing.service_layer import estimates as uc
from voltline_billing.service_layer.context import BillingContext

PATH = "/price-estimate"
STATION = r"^[a-zA-Z0-9*\-_=:+|@.]{1,48}$"


class EstimateOut(ResponseModel):
    """The planned session priced like a CDR; a session that goes as planned gets exactly this total."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1", "evse_id": 1, "starts_at": "2026-11-20T10:00:00Z", "energy_kwh": "22.5",
                    "duration_min": 75, "tariff_id": "STD", "tariff_version": 1, "currency": "EUR",
                    "price_text": "0.42 EUR/kWh + 1.43 EUR/h + 1.19 EUR per session (incl. 19% VAT)",
                    "total_excl_vat": "10.38", "total_vat": "1.97", "total_incl_vat": "12.35", "lines": [],
                }
            ]
        }
    )  # fmt: skip

    station_id: str
    evse_id: int | None
    starts_at: Timestamp
    energy_kwh: DecimalText
    duration_min: int
    tariff_id: str
    tariff_version: int
    currency: str
    price_text: str = Field(description="The tariff in words, VAT included (display only).")
    total_excl_vat: DecimalText
    total_vat: DecimalText
    total_incl_vat: DecimalText
    lines: list[LineOut]


def build_router(ctx: BillingContext) -> APIRouter:
    """Included with create_app's `driver_routers` and listed in `public_routes`: no token needed."""
    router = APIRouter(tags=["prices"])

    @router.get(PATH)
    async def price_estimate(
        station_id: Annotated[str, Query(pattern=STATION)],
        energy_kwh: Annotated[Decimal, Query(ge=0, le=1000, decimal_places=3)],
        duration_min: Annotated[int, Query(ge=0, le=7 * 24 * 60)],
        evse_id: Annotated[int | None, Query(ge=1)] = None,
        starts_at: Annotated[datetime | None, Query(description="default now; RFC 3339 with offset")] = None,
    ) -> EstimateOut:
        """Price a planned session: `energy_kwh` over `duration_min` minutes from `starts_at` (default now)."""
        energy_wh = int(energy_kwh * 1000)
        found = await uc.estimate(ctx, station_id, energy_wh, duration_min * 60, starts_at)
        p, cur = found.priced, found.priced.currency
        return EstimateOut(
            station_id=station_id, evse_id=evse_id, starts_at=found.starts_at, energy_kwh=energy_kwh,
            duration_min=duration_min, tariff_id=found.tariff.tariff_id, tariff_version=found.tariff.version,
            currency=cur, price_text=found.price_text, total_excl_vat=fmt(p.total_excl_vat, cur),
            total_vat=fmt(p.total_vat, cur), total_incl_vat=fmt(p.total_incl_vat, cur),
            lines=[LineOut.model_validate(line.to_json()) for line in p.lines],
        )  # fmt: skip

    return router
