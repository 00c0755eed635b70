"""When a tariff element applies (OCPI restrictions), and the instants where that can change.

The pricing engine cuts a session at every instant any restriction could flip (a time of day, a local
midnight, a duration, the moment a kWh threshold is reached) and evaluates each piece at its midpoint,
where nothing changes. Local times and dates are read in the tariff's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from fractions import Fraction

from voltline_billing.domain.tariffs import WEEKDAYS, Tariff, TariffRestrictions
from voltline_billing.domain.usage import Timeline, offset


@dataclass(frozen=True, slots=True)
class Moment:
    """What restrictions look at, for one piece of a session (constant over it)."""

    local: datetime  # wall-clock time in the tariff's zone
    since_start_s: Fraction
    energy_kwh: Fraction  # consumed so far
    power_kw: Fraction  # average over the piece


def matches(r: TariffRestrictions | None, m: Moment) -> bool:
    if r is None:
        return True
    if r.reservation is not None:
        return False  # voltline has no reservations; such elements price nothing here
    return _time_of_day(r.start, r.end, m.local.time()) and _others(r, m)


def _time_of_day(start: time | None, end: time | None, tod: time) -> bool:
    if start is None and end is None:
        return True
    if start is not None and end is not None:
        if start == end:
            return True
        if start < end:
            return start <= tod < end
        return tod >= start or tod < end  # crosses midnight
    if start is not None:
        return tod >= start
    assert end is not None
    return tod < end


def _others(r: TariffRestrictions, m: Moment) -> bool:
    day = m.local.date()
    checks = (
        r.start_date is None or day >= r.start_date,
        r.end_date is None or day < r.end_date,
        r.day_of_week is None or WEEKDAYS[day.weekday()] in r.day_of_week,
        r.min_kwh is None or m.energy_kwh >= Fraction(r.min_kwh),
        r.max_kwh is None or m.energy_kwh < Fraction(r.max_kwh),
        r.min_duration is None or m.since_start_s >= r.min_duration,
        r.max_duration is None or m.since_start_s < r.max_duration,
        r.min_power is None or m.power_kw >= Fraction(r.min_power),
        r.max_power is None or m.power_kw < Fraction(r.max_power),
    )
    # min/max_current: the session events carry no current, so those restrictions are not evaluated.
    return all(checks)


def breakpoints(tariff: Tariff, tl: Timeline) -> set[Fraction]:
    """Every instant inside the session where some element's restrictions may start or stop matching."""
    restrictions = [e.restrictions for e in tariff.elements if e.restrictions is not None]
    if not restrictions or tl.total_s == 0:
        return set()
    tz = tariff.tz
    first = tl.start.astimezone(tz).date() - timedelta(days=1)
    last = tl.at(tl.total_s).astimezone(tz).date() + timedelta(days=1)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    local_times: set[time] = set()
    cuts: set[Fraction] = set()
    for r in restrictions:
        local_times |= {t for t in (r.start, r.end) if t is not None}
        if r.day_of_week is not None or r.start_date is not None or r.end_date is not None:
            local_times.add(time(0, 0))
        cuts |= {Fraction(d) for d in (r.min_duration, r.max_duration) if d is not None}
        for kwh in (r.min_kwh, r.max_kwh):
            if kwh is not None:
                at = tl.crossing(Fraction(kwh) * 1000)
                if at is not None:
                    cuts.add(at)
    for day in days:
        for t in local_times:
            cuts.add(offset(tl.start, datetime.combine(day, t, tzinfo=tz)))
    return {c for c in cuts if 0 < c < tl.total_s}
