"""Responses of the CDR routes: the CDR, its OCPI form, and the running cost of a session."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict
from voltline_chassis.schemas import DecimalText, ResponseModel, Timestamp

from voltline_billing.entrypoints.schemas.tariffs import OcpiPrice, OcpiTariffOut


class LineOut(ResponseModel):
    """One priced line: a tariff dimension (or a plan discount) over a stretch of the session."""

    kind: str
    dimension: str
    element: int | None
    start: Timestamp
    end: Timestamp
    quantity: DecimalText
    billed_quantity: DecimalText
    unit: str
    unit_price: DecimalText
    price_per: str
    amount: DecimalText = Field(description="Excluding VAT, rounded to the currency's minor unit.")
    vat_percent: DecimalText | None


class VatOut(ResponseModel):
    vat_percent: DecimalText
    taxable: DecimalText
    vat: DecimalText


_CDR_EXAMPLE: JsonDict = {
    "cdr_id": "cdr_01J9Z6", "session_id": "S-1", "station_id": "CP-1", "evse_id": 1, "connector_id": 1,
    "id_token": "04A1B2C3", "driver_id": "drv_1", "started_at": "2026-11-20T10:00:00Z",
    "ended_at": "2026-11-20T11:00:00Z", "stop_reason": "EVDisconnected", "currency": "EUR", "energy_kwh": "12.345",
    "duration_s": 3600, "charging_s": 3400, "idle_s": 200, "tariff_id": "standard", "tariff_version": 1,
    "subscription_id": None, "total_excl_vat": "3.70", "total_vat": "0.78", "total_incl_vat": "4.48", "vat": [],
    "lines": [], "payment_state": "captured", "created_at": "2026-11-20T11:00:01Z",
}  # fmt: skip


class CdrOut(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CDR_EXAMPLE]})

    cdr_id: str
    session_id: str
    station_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    driver_id: str | None
    started_at: Timestamp
    ended_at: Timestamp
    stop_reason: str | None
    currency: str
    energy_kwh: DecimalText
    duration_s: int
    charging_s: int
    idle_s: int
    tariff_id: str | None
    tariff_version: int | None
    subscription_id: str | None
    total_excl_vat: DecimalText
    total_vat: DecimalText
    total_incl_vat: DecimalText
    vat: list[VatOut]
    lines: list[LineOut]
    payment_state: str | None
    created_at: Timestamp


class OcpiCdrOut(ResponseModel):
    """The CDR in OCPI 2.2.1 shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "country_code": "NL", "party_id": "VLT", "id": "cdr_01J9Z6",
                    "start_date_time": "2026-11-20T10:00:00Z", "end_date_time": "2026-11-20T11:00:00Z",
                    "session_id": "S-1", "currency": "EUR", "total_cost": {"excl_vat": 3.7, "incl_vat": 4.48},
                    "total_energy": 12.345, "total_time": 1, "last_updated": "2026-11-20T11:00:01Z",
                }
            ]
        }
    )  # fmt: skip

    country_code: str
    party_id: str
    id: str
    start_date_time: Timestamp
    end_date_time: Timestamp
    session_id: str
    cdr_token: dict[str, Any]
    auth_method: str
    cdr_location: dict[str, Any]
    currency: str
    tariffs: list[OcpiTariffOut]
    charging_periods: list[dict[str, Any]]
    total_cost: OcpiPrice
    total_fixed_cost: OcpiPrice
    total_energy: int | float
    total_energy_cost: OcpiPrice
    total_time: int | float
    total_time_cost: OcpiPrice
    total_parking_time: int | float
    total_parking_cost: OcpiPrice
    last_updated: Timestamp


class RunningCostOut(ResponseModel):
    """What a session costs so far; the money fields are there only when a tariff applies (`priced`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "S-1", "status": "active", "as_of": "2026-11-20T10:30:00Z", "cdr_id": None,
                    "priced": True, "currency": "EUR", "tariff_id": "standard", "tariff_version": 1,
                    "energy_kwh": "6.2", "duration_s": 1800, "total_excl_vat": "1.86", "total_vat": "0.39",
                    "total_incl_vat": "2.25", "lines": [],
                },
                {
                    "session_id": "S-2", "status": "active", "as_of": "2026-11-20T10:30:00Z", "cdr_id": None,
                    "priced": False, "detail": "no tariff applies to this station",
                },
            ]
        }
    )  # fmt: skip

    session_id: str
    status: str = Field(description="active, or ended (then the CDR's figures).")
    as_of: Timestamp
    cdr_id: str | None
    priced: bool
    detail: str | None = None
    currency: str | None = None
    tariff_id: str | None = None
    tariff_version: int | None = None
    energy_kwh: DecimalText | None = None
    duration_s: int | None = None
    total_excl_vat: DecimalText | None = None
    total_vat: DecimalText | None = None
    total_incl_vat: DecimalText | None = None
    lines: list[LineOut] | None = None
