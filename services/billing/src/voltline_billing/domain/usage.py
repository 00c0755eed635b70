"""What a session consumed, normalised for pricing: contiguous state periods and a cumulative energy curve.

Offsets are exact Fractions of seconds since the session started, so no float ever decides a boundary.
The energy curve is piecewise linear between readings. When the session service sends no timeline the
energy is spread over the periods by their own energy, and with neither, linearly over the time the car
was charging (or over the whole session).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Literal

PeriodState = Literal["charging", "suspended_ev", "suspended_evse", "idle"]
# TIME is billed while a charging session is under way (even paused); PARKING_TIME while idle (plugged in,
# charging over). The session service decides which periods are idle from the station's status.
TIME_STATES: frozenset[str] = frozenset({"charging", "suspended_ev", "suspended_evse"})
IDLE_STATE = "idle"


@dataclass(frozen=True, slots=True)
class Period:
    state: str
    start: datetime
    end: datetime
    energy_wh: int = 0


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    energy_wh: int


@dataclass(frozen=True)
class Usage:
    """A session as billing sees it (from session.ended, or the running state of an active one)."""

    started_at: datetime
    ended_at: datetime
    energy_wh: int
    periods: tuple[Period, ...] = ()
    timeline: tuple[Reading, ...] = ()
    peak_power_w: float | None = None


def offset(start: datetime, at: datetime) -> Fraction:
    delta = at - start
    return Fraction((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, 1_000_000)


def instant(start: datetime, off: Fraction) -> datetime:
    return start + timedelta(microseconds=round(off * 1_000_000))


@dataclass(frozen=True)
class Timeline:
    """The normalised session: states cover [0, total] without gaps; energy is 0 at 0 and the total at the end."""

    start: datetime
    total_s: Fraction
    energy_wh: int
    states: tuple[tuple[Fraction, Fraction, str], ...]
    points: tuple[tuple[Fraction, Fraction], ...]
    _times: tuple[Fraction, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_times", tuple(t for t, _ in self.points))

    @classmethod
    def of(cls, usage: Usage) -> Timeline:
        start = usage.started_at
        total = max(Fraction(0), offset(start, usage.ended_at))
        energy = max(0, usage.energy_wh)
        states = _states(usage, total)
        points = _points(usage, total, energy, states)
        return cls(start, total, energy, states, points)

    def at(self, off: Fraction) -> datetime:
        return instant(self.start, off)

    def energy_at(self, t: Fraction) -> Fraction:
        pts, times = self.points, self._times
        if t <= pts[0][0]:
            return pts[0][1]
        if t >= pts[-1][0]:
            return pts[-1][1]
        i = bisect_right(times, t) - 1
        (t0, e0), (t1, e1) = pts[i], pts[i + 1]
        return e0 + (e1 - e0) * (t - t0) / (t1 - t0)

    def crossing(self, energy: Fraction) -> Fraction | None:
        """The first instant the cumulative energy reaches `energy` (strictly inside the session)."""
        for (t0, e0), (t1, e1) in zip(self.points, self.points[1:], strict=False):
            if e0 < energy <= e1 and t1 > t0:
                return t0 + (energy - e0) * (t1 - t0) / (e1 - e0)
        return None

    def state_at(self, t: Fraction) -> str:
        for a, b, state in self.states:
            if a <= t < b:
                return state
        return self.states[-1][2]

    def cuts(self) -> set[Fraction]:
        return {a for a, _, _ in self.states} | {b for _, b, _ in self.states} | set(self._times)


def _states(usage: Usage, total: Fraction) -> tuple[tuple[Fraction, Fraction, str], ...]:
    if total == 0:
        return ((Fraction(0), Fraction(0), "charging"),)
    spans = sorted(
        (max(Fraction(0), offset(usage.started_at, p.start)), min(total, offset(usage.started_at, p.end)), p.state)
        for p in usage.periods
    )
    out: list[tuple[Fraction, Fraction, str]] = []
    cursor = Fraction(0)
    for a, b, state in spans:
        a = max(a, cursor)
        if b <= a:
            continue
        if a > cursor:
            out.append((cursor, a, "charging"))  # a gap the session service did not describe
        out.append((a, b, state))
        cursor = b
    if cursor < total:
        out.append((cursor, total, "charging"))
    return tuple(out)


def _points(
    usage: Usage, total: Fraction, energy: int, states: tuple[tuple[Fraction, Fraction, str], ...]
) -> tuple[tuple[Fraction, Fraction], ...]:
    if total == 0:
        return ((Fraction(0), Fraction(energy)),)
    readings = [(offset(usage.started_at, r.at), Fraction(min(max(r.energy_wh, 0), energy))) for r in usage.timeline]
    inner = sorted((t, e) for t, e in readings if 0 < t < total)
    if inner:
        return _monotonic([(Fraction(0), Fraction(0)), *inner, (total, Fraction(energy))])
    return _spread(usage, total, energy, states)


def _monotonic(points: list[tuple[Fraction, Fraction]]) -> tuple[tuple[Fraction, Fraction], ...]:
    """One point per instant, energy never decreasing (a meter that goes back is read as flat)."""
    out: list[tuple[Fraction, Fraction]] = []
    high = Fraction(0)
    for t, e in points:
        high = max(high, e)
        if out and out[-1][0] == t:
            out[-1] = (t, high)
        else:
            out.append((t, high))
    return tuple(out)


def _spread(
    usage: Usage, total: Fraction, energy: int, states: tuple[tuple[Fraction, Fraction, str], ...]
) -> tuple[tuple[Fraction, Fraction], ...]:
    period_energy = [
        (offset(usage.started_at, p.start), offset(usage.started_at, p.end), p.energy_wh)
        for p in usage.periods
        if p.energy_wh > 0
    ]
    weighted = [(max(a, Fraction(0)), min(b, total), Fraction(w)) for a, b, w in period_energy]
    weighted = [(a, b, w) for a, b, w in weighted if b > a]
    if not weighted:
        charging = [(a, b, b - a) for a, b, s in states if s in TIME_STATES]
        weighted = charging or [(Fraction(0), total, total)]
    weight = sum(w for _, _, w in weighted)
    points: list[tuple[Fraction, Fraction]] = [(Fraction(0), Fraction(0))]
    cumulative = Fraction(0)
    for a, b, w in sorted(weighted):
        points.append((a, cumulative))
        cumulative += Fraction(energy) * w / weight
        points.append((b, cumulative))
    points.append((total, Fraction(energy)))
    return _monotonic(sorted(points))
