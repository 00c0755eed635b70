"""The additive measures every bucket holds, and how a fact contributes them.

A bucket's figures are always recomputed from the contributions of the facts that fall in it (sums, and
one max for peak power), never incremented: a corrected fact replaces its contributions, so a revision or
a redelivery can never count twice, and the result does not depend on the order facts arrived in.

Money is summed as integers of micro-units (10^-6 of the currency): exact, additive in SQL on every dialect
(one upsert per bucket and batch), and finer than any ISO 4217 minor unit; amounts turn back into decimals
in the currency's minor unit only when shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

COUNTERS = (
    "sessions",
    "completed_sessions",
    "failed_sessions",
    "failed_auth",
    "failed_low_energy",
    "failed_error",
    "energy_wh",
    "charging_s",
    "idle_s",
    "occupied_s",
    "duration_s",
    "cdrs",
    "offline_s",
    "fault_port_s",
    "status_occupied_s",
)
MONEY = ("revenue_excl_vat", "revenue_incl_vat", "refunds_excl_vat", "refunds_incl_vat")
MAXIMA = ("peak_power_w",)
SUMMED = (*COUNTERS, *MONEY)
ALL = (*COUNTERS, *MONEY, *MAXIMA)


@dataclass
class Measures:
    """Sums over a bucket (money per currency: a row holds one currency, '' when it holds no money)."""

    sessions: int = 0
    completed_sessions: int = 0
    failed_sessions: int = 0
    failed_auth: int = 0
    failed_low_energy: int = 0
    failed_error: int = 0
    energy_wh: int = 0
    charging_s: int = 0
    idle_s: int = 0
    occupied_s: int = 0
    duration_s: int = 0
    cdrs: int = 0
    offline_s: int = 0
    fault_port_s: int = 0
    status_occupied_s: int = 0  # port-seconds in an occupied connector status (closed stretches)
    revenue_excl_vat: int = 0  # micro-units
    revenue_incl_vat: int = 0  # micro-units
    refunds_excl_vat: int = 0  # micro-units
    refunds_incl_vat: int = 0  # micro-units
    peak_power_w: float = 0.0

    # The hot loops of a replay: plain dict access on __dict__ (several times faster than getattr/setattr).
    def add(self, other: Measures) -> None:
        mine, theirs = self.__dict__, other.__dict__
        for name in SUMMED:
            value = theirs[name]
            if value:
                mine[name] += value
        if theirs["peak_power_w"] > mine["peak_power_w"]:
            mine["peak_power_w"] = theirs["peak_power_w"]

    def subtract(self, other: Measures) -> None:
        """Take a contribution back out (sums only: a max cannot be undone, the caller recomputes it)."""
        mine, theirs = self.__dict__, other.__dict__
        for name in SUMMED:
            value = theirs[name]
            if value:
                mine[name] -= value

    def is_zero(self) -> bool:
        mine = self.__dict__
        return not any(mine[name] for name in ALL)

    def as_dict(self) -> dict[str, Any]:
        return {name: self.__dict__[name] for name in ALL}

    def copy(self) -> Measures:
        clone = Measures.__new__(Measures)
        clone.__dict__.update(self.__dict__)
        return clone

    @classmethod
    def from_row(cls, row: Any) -> Measures:
        data = row._mapping if hasattr(row, "_mapping") else row
        m = cls.__new__(cls)
        d = m.__dict__
        for name in COUNTERS:
            d[name] = data[name] or 0
        for name in MONEY:
            d[name] = int(data[name] or 0)
        d["peak_power_w"] = float(data["peak_power_w"] or 0)
        return m


MICRO = Decimal(1_000_000)
# ISO 4217 minor units where they are not 2 (what an amount is shown in).
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}


def to_micro(amount: Decimal) -> int:
    """An amount in integer micro-units: exact for up to 6 decimals (billing rounds to the minor unit),
    rounded half-even beyond that."""
    return int((amount * MICRO).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_micro(micro: int, currency: str) -> Decimal:
    """Micro-units as a decimal in the currency's minor unit (more digits only when the sum has them);
    zero is "0", so a sum that went up and back down reads as one never touched."""
    if not micro:
        return Decimal(0)
    value = Decimal(micro) / MICRO
    quantum = Decimal(1).scaleb(-_EXPONENTS.get(currency, 2))
    shown = value.quantize(quantum)
    return shown if shown == value else value.normalize()


@dataclass
class Contribution:
    """What one fact adds to one station-hour bucket (in one currency, '' for none)."""

    station_id: str
    hour: datetime
    currency: str = ""
    driver_key: str | None = None
    measures: Measures = field(default_factory=Measures)


def merge(contributions: list[Contribution]) -> list[Contribution]:
    """One contribution per (station, hour, currency) of one fact: fewer rows, same sums. A fact has at most
    one driver, and a driver counts in a bucket when any contribution there names them, so the merged row
    takes the driver of whichever part had one."""
    merged: dict[tuple[str, datetime, str], Contribution] = {}
    for c in contributions:
        key = (c.station_id, c.hour, c.currency)
        held = merged.get(key)
        if held is None:
            merged[key] = Contribution(c.station_id, c.hour, c.currency, c.driver_key, c.measures.copy())
            continue
        if held.driver_key is not None and c.driver_key is not None and held.driver_key != c.driver_key:
            raise ValueError("one fact, two drivers")
        held.measures.add(c.measures)
        held.driver_key = held.driver_key or c.driver_key
    return list(merged.values())
