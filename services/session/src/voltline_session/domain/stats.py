"""Power and state of charge of a session, for the live view and for analytics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from voltline_session.domain.energy import EnergyResult
from voltline_session.domain.meter import POWER, SOC, Reading
from voltline_session.domain.session import MeterStats

# Average power is only derived over steps at least this long; shorter ones are dominated by clock jitter.
MIN_DERIVED_STEP = timedelta(seconds=30)


def _derived_powers(cumulative: Sequence[tuple[datetime, Decimal]]) -> list[float]:
    powers = []
    for (t0, e0), (t1, e1) in pairwise(cumulative):
        if t1 - t0 >= MIN_DERIVED_STEP:
            powers.append(float(e1 - e0) * 3600 / (t1 - t0).total_seconds())
    return powers


def meter_stats(readings: Sequence[Reading], energy: EnergyResult) -> MeterStats:
    """Power now and peak from Power.Active.Import if sent, else averaged from the energy register."""
    ordered = sorted(readings, key=lambda r: r.at)
    powers = [r for r in ordered if r.measurand == POWER]
    socs = [r for r in ordered if r.measurand == SOC]
    derived = _derived_powers(energy.cumulative)
    if powers:
        power_now: float | None = float(powers[-1].value)
        peak: float | None = max(float(r.value) for r in powers)
    else:
        power_now = derived[-1] if derived else None
        peak = max(derived) if derived else None
    return MeterStats(
        power_w=power_now,
        peak_power_w=peak,
        soc_percent=float(socs[-1].value) if socs else None,
        soc_start_percent=float(socs[0].value) if socs else None,
        last_reading_at=ordered[-1].at if ordered else None,
        first_reading_at=ordered[0].at if ordered else None,
    )
