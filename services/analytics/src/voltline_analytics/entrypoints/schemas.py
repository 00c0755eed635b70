"""Response models of the analytics API: what each route returns, for OpenAPI and generated clients."""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict
from voltline_chassis.schemas import DecimalText, ResponseModel, Timestamp

_KPI: JsonDict = {
    "bucket_start": "2026-11-20T00:00:00Z", "sessions": 42, "completed_sessions": 40, "failed_sessions": 2,
    "failed_auth": 1, "failed_low_energy": 1, "failed_error": 0, "energy_kwh": "512.345", "charging_hours": "61.50",
    "idle_hours": "4.25", "occupied_hours": "65.75", "revenue_excl_vat": "153.70", "revenue_incl_vat": "185.98",
    "refunds_incl_vat": "0.00", "currency": "EUR", "revenue_by_currency": {}, "utilisation_percent": "27.40",
    "uptime_percent": "99.80", "avg_energy_kwh": "12.808", "avg_duration_min": "92.3", "peak_power_kw": "150.00",
    "unique_drivers": 31, "co2_avoided_kg": "204.938",
}  # fmt: skip


class CurrencyRevenueOut(ResponseModel):
    revenue_excl_vat: DecimalText
    revenue_incl_vat: DecimalText
    refunds_excl_vat: DecimalText
    refunds_incl_vat: DecimalText


class KpiOut(ResponseModel):
    """One bucket; amounts are decimal strings in `currency` (all currencies under `revenue_by_currency`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_KPI]})

    bucket_start: Timestamp
    sessions: int
    completed_sessions: int
    failed_sessions: int
    failed_auth: int
    failed_low_energy: int
    failed_error: int
    energy_kwh: DecimalText
    charging_hours: DecimalText
    idle_hours: DecimalText
    occupied_hours: DecimalText
    revenue_excl_vat: DecimalText
    revenue_incl_vat: DecimalText
    refunds_incl_vat: DecimalText
    currency: str
    revenue_by_currency: dict[str, CurrencyRevenueOut]
    utilisation_percent: DecimalText | None
    uptime_percent: DecimalText | None
    avg_energy_kwh: DecimalText | None
    avg_duration_min: DecimalText | None
    peak_power_kw: DecimalText
    unique_drivers: int
    co2_avoided_kg: DecimalText


class KpiReportOut(ResponseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"scope": "network", "granularity": "day", "from": "2026-11-20T00:00:00Z",
                 "to": "2026-11-21T00:00:00Z", "items": [_KPI]}
            ]
        },
    )  # fmt: skip

    scope: str = Field(description="network, station:<id> or group:<id>")
    granularity: str = Field(description="hour, day or month")
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    items: list[KpiOut]


class HeatmapOut(ResponseModel):
    """Per weekday (Monday first) and hour (UTC): sessions started and occupied hours."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"from": "2026-10-21T00:00:00Z", "to": "2026-11-20T00:00:00Z", "scope": "network",
                 "sessions": [[0] * 24] * 7, "occupied_hours": [["0.00"] * 24] * 7}
            ]
        },
    )  # fmt: skip

    from_: Timestamp = Field(alias="from")
    to: Timestamp
    scope: str
    sessions: list[list[int]]
    occupied_hours: list[list[DecimalText]]


class RankedOut(ResponseModel):
    station_id: str
    value: DecimalText


class RankingsOut(ResponseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"metric": "utilisation", "from": "2026-10-21T00:00:00Z", "to": "2026-11-20T00:00:00Z",
                 "top": [{"station_id": "CP-1", "value": "41.20"}], "bottom": [{"station_id": "CP-9", "value": "2.10"}]}
            ]
        },
    )  # fmt: skip

    metric: str
    from_: Timestamp = Field(alias="from")
    to: Timestamp
    top: list[RankedOut]
    bottom: list[RankedOut]


class LateEventOut(ResponseModel):
    event_id: str
    stream: str
    station_id: str | None
    event_type: str
    session_id: str | None
    event_time: Timestamp
    watermark: Timestamp | None


class LateEventsOut(ResponseModel):
    items: list[LateEventOut]


class GroupOut(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"group_id": "depot", "stations": ["CP-1", "CP-2"]}]})

    group_id: str
    stations: list[str]


class AfirConnectorOut(ResponseModel):
    id: str


class AfirEvseOut(ResponseModel):
    uid: str
    evse_id: str
    status: str = Field(description="OCPI EVSE status")
    occupied: bool
    connectors: list[AfirConnectorOut]
    ad_hoc_price: dict[str, str | None] | None  # a tariff without a time price or fee has None there
    last_updated: Timestamp


class AfirLocationOut(ResponseModel):
    id: str
    evses: list[AfirEvseOut]
    last_updated: Timestamp


class AfirLocationsOut(ResponseModel):
    """An OCPI 2.2.1 response envelope of Locations (AFIR data access)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status_code": 1000, "status_message": "Success", "timestamp": "2026-11-20T10:00:00Z",
                 "data": [{"id": "CP-1", "last_updated": "2026-11-20T09:00:00Z", "evses": []}]}
            ]
        }
    )  # fmt: skip

    status_code: int
    status_message: str
    timestamp: Timestamp
    data: list[AfirLocationOut]
