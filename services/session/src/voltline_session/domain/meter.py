"""Meter readings as stations send them, reduced to one exact number per measurand and instant.

Stations report registers in Wh or kWh, per phase or in total, at the outlet or the inlet, and sometimes
garbage. Everything downstream works on `Reading`s in base units (Wh, W, percent) held as Decimals, so a
kWh value such as "12.3456" is never rounded through a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"

BEGIN = "Transaction.Begin"
END = "Transaction.End"

BASE_UNIT = {ENERGY: "Wh", POWER: "W", SOC: "Percent"}
# OCPP's default unit is "Wh" whatever the measurand, so a missing unit means the base unit.
_FACTORS: dict[str, dict[str | None, Decimal]] = {
    ENERGY: {None: Decimal(1), "Wh": Decimal(1), "kWh": Decimal(1000)},
    POWER: {None: Decimal(1), "Wh": Decimal(1), "W": Decimal(1), "kW": Decimal(1000)},
    SOC: {None: Decimal(1), "Wh": Decimal(1), "Percent": Decimal(1)},
}
_OUTLET = (None, "Outlet")
_PHASES = (("L1", "L2", "L3"), ("L1-N", "L2-N", "L3-N"))
_MEASURANDS = (ENERGY, POWER, SOC)


class ValueLike(Protocol):
    @property
    def value(self) -> str: ...

    @property
    def measurand(self) -> str: ...

    @property
    def unit(self) -> str | None: ...

    @property
    def context(self) -> str | None: ...

    @property
    def phase(self) -> str | None: ...

    @property
    def location(self) -> str | None: ...

    @property
    def multiplier(self) -> int | None: ...

    @property
    def format(self) -> str | None: ...


class SampleLike(Protocol):
    @property
    def timestamp(self) -> datetime: ...

    @property
    def values(self) -> Sequence[ValueLike]: ...


@dataclass(frozen=True)
class Reading:
    """One measurand at one instant, in its base unit (`BASE_UNIT`)."""

    at: datetime
    measurand: str
    value: Decimal
    context: str | None = None

    @property
    def unit(self) -> str:
        return BASE_UNIT[self.measurand]


def as_utc(moment: datetime) -> datetime:
    """Station clocks should send UTC with a zone; a zone-less time is read as UTC rather than refused."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _converted(value: ValueLike, measurand: str, problems: list[str]) -> Decimal | None:
    number = parse_decimal(value.value)
    if number is not None and value.multiplier:
        number = number.scaleb(value.multiplier)  # 2.x unitOfMeasure: value x 10^multiplier, exactly
    if number is None:
        problems.append(f"unparseable {measurand} value {value.value!r}")
        return None
    factor = _FACTORS[measurand].get(value.unit)
    if factor is None:
        problems.append(f"unknown unit {value.unit!r} for {measurand}")
        return None
    if measurand == ENERGY and number < 0:
        problems.append(f"negative {measurand} value {value.value!r}")
        return None
    return number * factor


def _pick(candidates: list[ValueLike], measurand: str, problems: list[str]) -> tuple[Decimal, str | None] | None:
    """The total if there is one, else the sum of the three phases."""
    totals = [v for v in candidates if v.phase is None]
    if totals:
        number = _converted(totals[0], measurand, problems)
        return (number, totals[0].context) if number is not None else None
    if measurand == SOC:
        return None
    by_phase = {v.phase: v for v in candidates}
    for phases in _PHASES:
        if all(p in by_phase for p in phases):
            converted = [_converted(by_phase[p], measurand, problems) for p in phases]
            numbers = [n for n in converted if n is not None]
            if len(numbers) != len(converted):
                return None
            return sum(numbers, Decimal(0)), by_phase[phases[0]].context
    return None


def _select(sample: SampleLike, measurand: str, problems: list[str]) -> tuple[Decimal, str | None] | None:
    # 1.6 SignedData carries a signature blob, not a number; its plain twin (if sent) is what counts.
    candidates = [v for v in sample.values if (v.measurand or ENERGY) == measurand and v.format != "SignedData"]
    if measurand != SOC:
        # The outlet is what the driver got; the inlet (grid side) includes the station's losses.
        outlet = [v for v in candidates if v.location in _OUTLET]
        candidates = outlet or [v for v in candidates if v.location == "Inlet"]
    return _pick(candidates, measurand, problems) if candidates else None


def readings_from(samples: Iterable[SampleLike]) -> tuple[list[Reading], list[str]]:
    """The readings in a batch of samples, and what was wrong with the values that had to be skipped.

    A sample without an energy value simply yields no energy reading: it resets nothing.
    """
    readings: list[Reading] = []
    problems: list[str] = []
    for sample in samples:
        at = as_utc(sample.timestamp)
        plain = _plain(sample.values)
        if plain is not None:  # the common shape, in one pass: what `_select` would pick from it
            for measurand in _MEASURANDS:
                value = plain.get(measurand)
                if value is not None:
                    number = _converted(value, measurand, problems)
                    if number is not None:
                        readings.append(_reading(at, measurand, number, value.context))
            continue
        for measurand in _MEASURANDS:
            picked = _select(sample, measurand, problems)
            if picked is not None:
                readings.append(Reading(at, measurand, picked[0], picked[1]))
    return readings, problems


def _reading(at: datetime, measurand: str, value: Decimal, context: str | None) -> Reading:
    """`Reading(...)` without the frozen dataclass's setattr per field (the flood makes two per message)."""
    new = object.__new__(Reading)
    new.__dict__.update(at=at, measurand=measurand, value=value, context=context)
    return new


def _plain(values: Sequence[ValueLike]) -> dict[str, ValueLike] | None:
    """Each measurand's first value if every value is a plain total at the outlet (no phase, no inlet, no
    signed data): then that value is the one `_select` picks. None for any other shape (the general path)."""
    first: dict[str, ValueLike] = {}
    for value in values:
        if value.phase is not None or value.format == "SignedData" or value.location not in _OUTLET:
            return None
        measurand = value.measurand or ENERGY
        if measurand not in first:
            first[measurand] = value
    return first
