"""Tariffs as the industry exchanges them: OCPI 2.2.1 tariff elements, price components, restrictions.

Prices are excluding VAT, per kWh (ENERGY), per hour (TIME, PARKING_TIME) or per session (FLAT).
`step_size` counts Wh for ENERGY and seconds for the time dimensions. The simple form of the public
API (energy/time/idle price and a session fee) is one element without restrictions.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from voltline_chassis.validation import CurrentA, DurationS, EnergyKwh, PowerKw, check_time_zone

from voltline_billing.domain.money import check_currency

TariffId = Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._\-]+$")]
MAX_ELEMENTS = 100  # OCPI sets no limit; a real tariff has a handful
Price = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class Dimension(StrEnum):
    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


WEEKDAYS = list(DayOfWeek)  # index = date.weekday()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceComponent(_Model):
    type: Dimension
    price: Price
    vat: Percent | None = Field(default=None, description="VAT percent; none means no VAT on this component.")
    step_size: int = Field(default=1, ge=1, le=1_000_000, description="Billing block: Wh for ENERGY, s for time.")


class TariffRestrictions(_Model):
    """When an element applies. Times and dates are local to the tariff's time_zone; ends are exclusive."""

    start_time: str | None = None
    end_time: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: EnergyKwh | None = None
    max_kwh: EnergyKwh | None = None
    min_current: CurrentA | None = None
    max_current: CurrentA | None = None
    min_power: PowerKw | None = Field(default=None, description="kW, inclusive")
    max_power: PowerKw | None = Field(default=None, description="kW, exclusive")
    min_duration: DurationS | None = Field(default=None, description="seconds since the session started")
    max_duration: DurationS | None = None
    day_of_week: list[DayOfWeek] | None = Field(default=None, max_length=7)
    reservation: str | None = Field(default=None, max_length=32)

    @field_validator("day_of_week", mode="before")
    @classmethod
    def _distinct_days(cls, value: object) -> object:
        """A day named twice means the same; what is left is at most the seven days."""
        return list(dict.fromkeys(value)) if isinstance(value, list) and len(value) <= 1000 else value

    @field_validator("start_time", "end_time")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM.match(value):
            raise ValueError("must be a local time HH:MM (00:00-23:59)")
        return value

    @property
    def start(self) -> time | None:
        return time.fromisoformat(self.start_time) if self.start_time else None

    @property
    def end(self) -> time | None:
        return time.fromisoformat(self.end_time) if self.end_time else None

    @property
    def time_based(self) -> bool:
        """Restrictions whose outcome depends on when (not how much) something happened."""
        return any(
            v is not None
            for v in (
                self.start_time,
                self.end_time,
                self.start_date,
                self.end_date,
                self.min_duration,
                self.max_duration,
                self.day_of_week,
                self.min_power,
                self.max_power,
            )
        )


class TariffElement(_Model):
    price_components: list[PriceComponent] = Field(min_length=1, max_length=8)
    restrictions: TariffRestrictions | None = None


class PriceLimit(_Model):
    excl_vat: Price
    incl_vat: Price | None = None


class Tariff(_Model):
    """One version of a tariff. Elements are evaluated in order: per dimension, the first match wins."""

    tariff_id: TariffId
    currency: str
    elements: list[TariffElement] = Field(min_length=1, max_length=MAX_ELEMENTS)
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    vat_percent: Percent | None = Field(default=None, description="VAT of price adjustments (min/max price).")
    time_zone: str = Field(default="UTC", description="IANA zone in which restriction times and dates are read.")
    version: int = Field(default=1, ge=1)
    valid_from: datetime | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if self.min_price and self.max_price and self.min_price.excl_vat > self.max_price.excl_vat:
            raise ValueError("min_price must not exceed max_price")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def has_time_restrictions(self) -> bool:
        return any(e.restrictions is not None and e.restrictions.time_based for e in self.elements)


def check_zone(value: str) -> str:
    return check_time_zone(value)  # also refuses "America" (a folder) and 300-character names


def simple_tariff(
    tariff_id: str,
    currency: str,
    energy_price_per_kwh: Decimal,
    *,
    time_price_per_hour: Decimal | None = None,
    session_fee: Decimal | None = None,
    idle_price_per_hour: Decimal | None = None,
    vat_percent: Decimal | None = None,
) -> Tariff:
    """The public API's simple form, as one unrestricted OCPI element."""
    components = [PriceComponent(type=Dimension.ENERGY, price=energy_price_per_kwh, vat=vat_percent)]
    for dimension, price in (
        (Dimension.TIME, time_price_per_hour),
        (Dimension.FLAT, session_fee),
        (Dimension.PARKING_TIME, idle_price_per_hour),
    ):
        if price is not None:
            components.append(PriceComponent(type=dimension, price=price, vat=vat_percent))
    return Tariff(
        tariff_id=tariff_id,
        currency=currency,
        elements=[TariffElement(price_components=components)],
        vat_percent=vat_percent,
    )
