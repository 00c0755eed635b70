"""Responses of the tariff routes (the tariff itself is the domain model, as stored)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from voltline_chassis.schemas import ResponseModel, Timestamp

from voltline_billing.domain.tariffs import Tariff


class StationTariffOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1",
                    "tariff_id": "standard",
                    "version": 2,
                    "source": "station",
                    "tariff": {"tariff_id": "standard", "currency": "EUR", "elements": [], "version": 2},
                }
            ]
        }
    )

    station_id: str
    tariff_id: str
    version: int
    source: str = Field(description="Where the tariff comes from: station, group or default.")
    tariff: Tariff


class GroupOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"group_id": "depot", "tariff_id": "fleet", "station_ids": ["CP-1", "CP-2"]}]}
    )

    group_id: str
    tariff_id: str | None
    station_ids: list[str]


class OcpiPrice(ResponseModel):
    excl_vat: int | float
    incl_vat: int | float | None = None


class OcpiTariffOut(ResponseModel):
    """The tariff in OCPI 2.2.1 shape (numbers, not strings, as OCPI wants)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "country_code": "NL",
                    "party_id": "VLT",
                    "id": "standard",
                    "currency": "EUR",
                    "type": "REGULAR",
                    "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
                    "last_updated": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )

    country_code: str
    party_id: str
    id: str
    currency: str
    type: str
    elements: list[dict[str, Any]]
    last_updated: Timestamp
    min_price: OcpiPrice | None = None
    max_price: OcpiPrice | None = None
    start_date_time: Timestamp | None = None
