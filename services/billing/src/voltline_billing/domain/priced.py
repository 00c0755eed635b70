"""The result of pricing: one line per tariff component and period, adjustments as lines of their own,
VAT per rate, and totals that are exactly the sums of the lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from voltline_billing.domain.money import fmt
from voltline_billing.domain.tariffs import Dimension

LineKind = Literal["tariff", "plan_included_energy", "plan_discount", "min_price", "max_price"]
UNITS = {Dimension.ENERGY: ("kWh", "kWh"), Dimension.TIME: ("s", "hour"), Dimension.PARKING_TIME: ("s", "hour")}
UNITS[Dimension.FLAT] = ("session", "session")


def rfc3339(at: datetime) -> str:
    """UTC instants as the API writes them everywhere: 2026-11-20T10:00:00Z."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Line:
    kind: LineKind
    dimension: Dimension
    element: int | None  # index of the tariff element that priced it
    start: datetime
    end: datetime
    quantity: Decimal  # measured, in `unit` (kWh with Wh precision, seconds, sessions)
    billed_quantity: Decimal  # after OCPI step_size rounding
    unit_price: Decimal  # per `price_per`, excluding VAT
    amount: Decimal  # excluding VAT, rounded half-up to the currency's minor unit
    vat_percent: Decimal | None
    currency: str
    description: str

    @property
    def unit(self) -> str:
        return UNITS[self.dimension][0]

    @property
    def price_per(self) -> str:
        return UNITS[self.dimension][1]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dimension": self.dimension.value,
            "element": self.element,
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "quantity": str(self.quantity),
            "billed_quantity": str(self.billed_quantity),
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "price_per": self.price_per,
            "amount": fmt(self.amount, self.currency),
            "vat_percent": None if self.vat_percent is None else str(self.vat_percent),
            "currency": self.currency,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Line:
        vat = data.get("vat_percent")
        return cls(
            kind=data["kind"],
            dimension=Dimension(data["dimension"]),
            element=data.get("element"),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            quantity=Decimal(data["quantity"]),
            billed_quantity=Decimal(data["billed_quantity"]),
            unit_price=Decimal(data["unit_price"]),
            amount=Decimal(data["amount"]),
            vat_percent=None if vat is None else Decimal(vat),
            currency=data["currency"],
            description=data["description"],
        )


@dataclass(frozen=True, slots=True)
class VatAmount:
    vat_percent: Decimal
    taxable: Decimal
    vat: Decimal


@dataclass(frozen=True)
class PricedSession:
    tariff_id: str
    tariff_version: int
    currency: str
    lines: tuple[Line, ...]
    vat: tuple[VatAmount, ...]
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    energy_wh: int
    duration_s: int
    charging_s: int  # TIME-state seconds (charging or paused)
    idle_s: int  # plugged in, not charging
    included_wh_used: int = 0

    def total_of(self, dimension: Dimension) -> Decimal:
        return sum((line.amount for line in self.lines if line.dimension is dimension), Decimal(0))
