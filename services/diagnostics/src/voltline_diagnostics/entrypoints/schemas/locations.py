"""Locations in (OCPI 2.2.1 Locations shape, snake_case as every voltline API) and out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from voltline_chassis.schemas import DecimalText, ResponseModel

STATION_ID = r"^[a-zA-Z0-9*\-_=:+|@.]{1,48}$"
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# OCPI 2.2.1 ConnectorType
ConnectorStandard = Literal[
    "CHADEMO", "CHAOJI", "DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_E", "DOMESTIC_F",
    "DOMESTIC_G", "DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K", "DOMESTIC_L", "DOMESTIC_M", "DOMESTIC_N",
    "DOMESTIC_O", "GBT_AC", "GBT_DC", "IEC_60309_2_single_16", "IEC_60309_2_three_16", "IEC_60309_2_three_32",
    "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2", "IEC_62196_T2_COMBO",
    "IEC_62196_T3A", "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30", "NEMA_10_50",
    "NEMA_14_30", "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S",
]  # fmt: skip
ConnectorFormat = Literal["SOCKET", "CABLE"]
PowerType = Literal["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"]
# OCPI 2.2.1 Facility
Facility = Literal[
    "HOTEL", "RESTAURANT", "CAFE", "MALL", "SUPERMARKET", "SPORT", "RECREATION_AREA", "NATURE", "MUSEUM",
    "BIKE_SHARING", "BUS_STOP", "TAXI_STAND", "TRAM_STOP", "METRO_STATION", "TRAIN_STATION", "AIRPORT",
    "PARKING_LOT", "CARPOOL_PARKING", "FUEL_STATION", "WIFI",
]  # fmt: skip


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectorIn(_In):
    connector_id: int = Field(ge=1, le=99)
    standard: ConnectorStandard
    format: ConnectorFormat
    power_type: PowerType
    max_power_kw: Decimal = Field(gt=0, le=2000, decimal_places=3)
    max_voltage: int | None = Field(default=None, gt=0, le=2000)
    max_amperage: int | None = Field(default=None, gt=0, le=2000)


class EvseIn(_In):
    evse_id: int = Field(ge=1, le=99)
    physical_reference: str | None = Field(default=None, max_length=16)
    connectors: list[ConnectorIn] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _unique(self) -> EvseIn:
        ids = [c.connector_id for c in self.connectors]
        if len(ids) != len(set(ids)):
            raise ValueError("connector_id must be unique within an EVSE")
        return self


class StationIn(_In):
    station_id: str = Field(pattern=STATION_ID)
    evses: list[EvseIn] = Field(default_factory=list, max_length=64, description="omit: from the station's status")

    @model_validator(mode="after")
    def _unique(self) -> StationIn:
        ids = [e.evse_id for e in self.evses]
        if len(ids) != len(set(ids)):
            raise ValueError("evse_id must be unique within a station")
        return self


class Coordinates(_In):
    latitude: Decimal = Field(ge=-90, le=90, decimal_places=7)
    longitude: Decimal = Field(ge=-180, le=180, decimal_places=7)


class RegularHours(_In):
    weekday: int = Field(ge=1, le=7, description="1 Monday ... 7 Sunday")
    period_begin: str = Field(pattern=HHMM)
    period_end: str = Field(pattern=HHMM)


class ExceptionalPeriod(_In):
    period_begin: str = Field(description="RFC 3339")
    period_end: str = Field(description="RFC 3339")


class OpeningTimes(_In):
    twentyfourseven: bool
    regular_hours: list[RegularHours] = Field(default_factory=list, max_length=50)
    exceptional_openings: list[ExceptionalPeriod] = Field(default_factory=list, max_length=50)
    exceptional_closings: list[ExceptionalPeriod] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _consistent(self) -> OpeningTimes:
        if self.twentyfourseven and self.regular_hours:
            raise ValueError("regular_hours must be empty when twentyfourseven is true")
        return self


class LocationIn(_In):
    location_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,36}$")
    name: str = Field(min_length=1, max_length=255)
    address: str = Field(min_length=1, max_length=45)
    city: str = Field(min_length=1, max_length=45)
    postal_code: str | None = Field(default=None, max_length=10)
    state: str | None = Field(default=None, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3, as OCPI")
    coordinates: Coordinates
    time_zone: str = Field(description="IANA, e.g. Europe/Berlin")
    parking_type: str | None = Field(default=None, max_length=40)
    opening_times: OpeningTimes | None = Field(default=None, description="null: not specified (OCPI: 24/7)")
    facilities: list[Facility] = Field(default_factory=list, max_length=20)
    stations: list[StationIn] = Field(default_factory=list, max_length=200)

    @field_validator("stations", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        """`["CP-1", ...]` is short for `[{"station_id": "CP-1"}, ...]`."""
        return [{"station_id": v} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _unique(self) -> LocationIn:
        ids = [s.station_id for s in self.stations]
        if len(ids) != len(set(ids)):
            raise ValueError("a station can be named once per location")
        return self


class ConnectorOut(ResponseModel):
    connector_id: int
    standard: str | None
    format: str | None
    power_type: str | None
    max_power_kw: DecimalText | None


class EvseOut(ResponseModel):
    uid: str
    evse_id: int
    status: str = Field(description="Available, Occupied, Reserved, Unavailable, Faulted, Unknown (offline)")
    ocpi_status: str
    connectors: list[ConnectorOut]


class PriceOut(ResponseModel):
    tariff_id: str
    tariff_version: int
    currency: str
    text: str = Field(description="The ad-hoc price in words, VAT included")
    energy_price_per_kwh: DecimalText | None
    time_price_per_hour: DecimalText | None
    session_fee: DecimalText | None
    vat_percent: DecimalText | None
    elements: list[dict[str, Any]] = Field(description="The OCPI 2.2.1 tariff elements (prices excl. VAT)")


class StationOut(ResponseModel):
    station_id: str
    online: bool
    evses: list[EvseOut]
    price: PriceOut | None = Field(description="null: no tariff applies (yet)")


class LocationOut(ResponseModel):
    location_id: str
    name: str
    address: str
    city: str
    country: str
    coordinates: dict[str, str]
    time_zone: str
    opening_times: dict[str, Any] | None
    facilities: list[str]
    stations: list[StationOut]
    distance_km: float | None = Field(default=None, description="search results only")


class LocationPage(ResponseModel):
    items: list[LocationOut]
    next_offset: int | None
