"""A tariff's simple form and the price of an example session under it, for the edit page's preview."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

SIMPLE = {"ENERGY": "energy_price_per_kwh", "TIME": "time_price_per_hour", "FLAT": "session_fee",
          "PARKING_TIME": "idle_price_per_hour"}  # fmt: skip
CENT = Decimal("0.01")


def simple_values(tariff: Mapping[str, Any]) -> dict[str, str]:
    """The form's values of a tariff: its first element's prices (the simple form is one unrestricted element)."""
    values = {"tariff_id": str(tariff.get("tariff_id") or ""), "currency": str(tariff.get("currency") or "")}
    elements = tariff.get("elements") or [{}]
    for component in elements[0].get("price_components") or ():
        name = SIMPLE.get(str(component.get("type")))
        if name and name not in values:
            values[name] = str(component.get("price"))
    if tariff.get("vat_percent") is not None:
        values["vat_percent"] = str(tariff["vat_percent"])
    return values


@dataclass(frozen=True, slots=True)
class Preview:
    energy_kwh: Decimal
    hours: Decimal
    idle_hours: Decimal
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal
    currency: str


def _decimal(values: Mapping[str, str], name: str, errors: dict[str, str]) -> Decimal:
    raw = (values.get(name) or "").strip()
    if not raw:
        return Decimal(0)
    try:
        number = Decimal(raw)
    except InvalidOperation:
        errors[name] = "a number, e.g. 0.35"
        return Decimal(0)
    if not number.is_finite() or number < 0:
        errors[name] = "zero or more"
        return Decimal(0)
    return number


def preview(
    values: Mapping[str, str], energy_kwh: Decimal, hours: Decimal, idle_hours: Decimal
) -> Preview | dict[str, str]:
    """The example session's price under the typed prices (half-up to the cent), or errors by field."""
    errors: dict[str, str] = {}
    energy = _decimal(values, "energy_price_per_kwh", errors)
    time_price = _decimal(values, "time_price_per_hour", errors)
    fee = _decimal(values, "session_fee", errors)
    idle = _decimal(values, "idle_price_per_hour", errors)
    vat_percent = _decimal(values, "vat_percent", errors)
    if errors:
        return errors
    excl = (energy * energy_kwh + time_price * hours + fee + idle * idle_hours).quantize(CENT, ROUND_HALF_UP)
    vat = (excl * vat_percent / 100).quantize(CENT, ROUND_HALF_UP)
    currency = (values.get("currency") or "").strip().upper()
    return Preview(energy_kwh, hours, idle_hours, excl, vat, excl + vat, currency)
