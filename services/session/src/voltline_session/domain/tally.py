"""Running meter totals of an open session, so new readings fold in without reading all the old ones.

`compute_energy` walks every register value of a session in time order; only the last value's fate is
still open (whether it is an outlier depends on the value after it). A `Tally` keeps where the walk
stands before that last value, plus what the power and SoC figures need (newest power, peak, first and
last SoC, the last counted energy and the powers derived from it). Readings that are all later than every
reading the tally has seen continue the walk exactly: `advance` gives what `compute_energy` and
`meter_stats` would give from all readings (a property test checks it). Anything else (a reading at or
before the newest known, a Transaction.Begin/End value, a changed start or stop value, an ended session)
returns None, and the caller recomputes from all readings, which yields a new tally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

from voltline_session.domain.energy import (
    Checkpoint,
    EnergyResult,
    MeterPolicy,
    Point,
    _outlier,
    _points,
    _Walk,
    wh,
)
from voltline_session.domain.meter import ENERGY, POWER, SOC, Reading
from voltline_session.domain.session import MeterStats
from voltline_session.domain.stats import MIN_DERIVED_STEP

VERSION = 1


@dataclass(frozen=True)
class Tally:
    key: tuple[Any, ...]  # what the walk assumed: start, meter start/stop, end, policy (else it is stale)
    total: Decimal
    last: Point
    pending: Point
    baseline: Point
    anomalies: tuple[str, ...]
    counted_last: tuple[datetime, Decimal] | None  # the last cumulative energy before `pending`
    derived_last: float | None  # powers derived from the cumulative energy before `pending`
    derived_max: float | None
    power: tuple[datetime, Decimal] | None  # the newest Power.Active.Import reading
    peak: float | None  # the highest power reading
    soc_first: Decimal | None
    soc_last: tuple[datetime, Decimal] | None
    first_at: datetime
    last_at: datetime  # the newest reading of any measurand

    def to_json(self) -> dict[str, Any]:
        def point(p: Point) -> list[str]:
            return [p.at.isoformat(), str(p.register_wh), p.kind, p.source]

        def pair(x: tuple[datetime, Decimal] | None) -> list[str] | None:
            return None if x is None else [x[0].isoformat(), str(x[1])]

        return {
            "v": VERSION,
            "key": list(self.key),
            "total": str(self.total),
            "last": point(self.last),
            "pending": point(self.pending),
            "baseline": point(self.baseline),
            "anomalies": list(self.anomalies),
            "counted_last": pair(self.counted_last),
            "derived_last": self.derived_last,
            "derived_max": self.derived_max,
            "power": pair(self.power),
            "peak": self.peak,
            "soc_first": None if self.soc_first is None else str(self.soc_first),
            "soc_last": pair(self.soc_last),
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally | None:
        """None for a tally of another version (recomputed from all readings then)."""
        if not isinstance(data, dict) or data.get("v") != VERSION:
            return None

        def point(x: list[str]) -> Point:
            return Point(datetime.fromisoformat(x[0]), Decimal(x[1]), x[2], x[3])

        def pair(x: list[str] | None) -> tuple[datetime, Decimal] | None:
            return None if x is None else (datetime.fromisoformat(x[0]), Decimal(x[1]))

        return cls(
            key=tuple(data["key"]),
            total=Decimal(data["total"]),
            last=point(data["last"]),
            pending=point(data["pending"]),
            baseline=point(data["baseline"]),
            anomalies=tuple(data["anomalies"]),
            counted_last=pair(data["counted_last"]),
            derived_last=data["derived_last"],
            derived_max=data["derived_max"],
            power=pair(data["power"]),
            peak=data["peak"],
            soc_first=None if data["soc_first"] is None else Decimal(data["soc_first"]),
            soc_last=pair(data["soc_last"]),
            first_at=datetime.fromisoformat(data["first_at"]),
            last_at=datetime.fromisoformat(data["last_at"]),
        )


class TallyCache:
    """The tallies this process wrote last, by session: the next batch reads a session's stored JSON back and,
    when it equals what was written, takes the tally from here instead of parsing it again (`Tally.from_json`
    of its JSON gives an equal tally: every value goes through `str`/`isoformat` and back exactly)."""

    def __init__(self, size: int = 20_000) -> None:
        self._written: dict[str, tuple[dict[str, Any], Tally]] = {}
        self._size = size

    def encode(self, session_id: str, tally: Tally) -> dict[str, Any]:
        data = tally.to_json()
        if len(self._written) >= self._size:
            self._written.clear()  # bounded: ended sessions' tallies go too (a miss only costs a parse)
        self._written[session_id] = (data, tally)
        return data

    def decode(self, session_id: str, data: dict[str, Any]) -> Tally | None:
        known = self._written.get(session_id)
        if known is not None and known[0] == data:
            return known[1]
        return Tally.from_json(data)


def tally_key(
    started_at: datetime,
    meter_start_wh: int | None,
    meter_stop_wh: int | None,
    ended_at: datetime | None,
    policy: MeterPolicy,
) -> tuple[Any, ...]:
    return (
        started_at.isoformat(),
        meter_start_wh,
        meter_stop_wh,
        None if ended_at is None else ended_at.isoformat(),
        str(policy.max_power_w),
        str(policy.clock_slack_s),
    )


def _derived(counted: Sequence[tuple[datetime, Decimal]]) -> tuple[float | None, float | None]:
    powers = [
        float(e1 - e0) * 3600 / (t1 - t0).total_seconds()
        for (t0, e0), (t1, e1) in pairwise(counted)
        if t1 - t0 >= MIN_DERIVED_STEP
    ]
    return (powers[-1], max(powers)) if powers else (None, None)


def tally_of(key: tuple[Any, ...], readings: Sequence[Reading], checkpoint: Checkpoint | None) -> Tally | None:
    """The tally after a recompute from all `readings` (None when the walk cannot be continued)."""
    if checkpoint is None or not readings:
        return None
    ordered = sorted(readings, key=lambda r: r.at)
    powers = [r for r in ordered if r.measurand == POWER]
    socs = [r for r in ordered if r.measurand == SOC]
    derived_last, derived_max = _derived(checkpoint.counted)
    return Tally(
        key=key,
        total=checkpoint.total,
        last=checkpoint.last,
        pending=checkpoint.pending,
        baseline=checkpoint.baseline,
        anomalies=checkpoint.anomalies,
        counted_last=checkpoint.counted[-1] if checkpoint.counted else None,
        derived_last=derived_last,
        derived_max=derived_max,
        power=(powers[-1].at, powers[-1].value) if powers else None,
        peak=max(float(r.value) for r in powers) if powers else None,
        soc_first=socs[0].value if socs else None,
        soc_last=(socs[-1].at, socs[-1].value) if socs else None,
        first_at=ordered[0].at,
        last_at=ordered[-1].at,
    )


class _Derivation:
    """Powers derived from the cumulative energy as it grows (what `meter_stats` derives from all of it)."""

    def __init__(self, last: tuple[datetime, Decimal] | None, latest: float | None, peak: float | None) -> None:
        self.last, self.latest, self.peak = last, latest, peak

    def add(self, at: datetime, energy: Decimal) -> None:
        if self.last is not None and at - self.last[0] >= MIN_DERIVED_STEP:
            power = float(energy - self.last[1]) * 3600 / (at - self.last[0]).total_seconds()
            self.latest = power
            self.peak = power if self.peak is None else max(self.peak, power)
        self.last = (at, energy)


class _FeedingWalk(_Walk):
    """`compute_energy`'s walk whose timeline entries that counted go straight to the derivation (a fold
    needs no timeline: only the periods and session.ended use it, and those come from all readings)."""

    def __init__(self, policy: MeterPolicy, derivation: _Derivation) -> None:
        super().__init__(policy)
        self.derivation = derivation

    def entry(self, point: Point, energy_wh: Decimal | None, note: str | None = None) -> None:
        if energy_wh is not None:
            self.derivation.add(point.at, energy_wh)


def _walk_on(walk: _Walk, point: Point, nxt: Point | None) -> None:
    """One point of `compute_energy`'s main loop."""
    assert walk.last is not None
    why = _outlier(walk.last, point, nxt, walk.policy)
    if why:
        walk.skip(point, why)
    else:
        walk.step(point)


def advance(
    tally: Tally, key: tuple[Any, ...], new: Sequence[Reading], policy: MeterPolicy
) -> tuple[EnergyResult, MeterStats, Tally] | None:
    """Fold readings later than all the tally has seen; None when they are not (recompute from all)."""
    if tally.key != key:
        return None
    unique = list({(r.measurand, r.at): r for r in reversed(new)}.values())  # the first sent at an instant stays
    unique.sort(key=lambda r: r.at)
    if unique and unique[0].at <= max(tally.last_at, tally.pending.at):
        return None
    points = _points((r for r in unique if r.measurand == ENERGY), None, None, None, None)
    if any(p.kind != "sample" for p in points):
        return None
    derivation = _Derivation(tally.counted_last, tally.derived_last, tally.derived_max)
    walk = _FeedingWalk(policy, derivation)
    walk.total, walk.last, walk.anomalies = tally.total, tally.last, list(tally.anomalies)
    chain = [tally.pending, *points]
    for index, point in enumerate(chain[:-1]):
        _walk_on(walk, point, chain[index + 1])
    assert walk.last is not None
    # Where the walk stands before its (new) last point: the next tally (built once, below).
    total, last, anomalies = walk.total, walk.last, tuple(walk.anomalies)
    counted_last, derived_last, derived_max = derivation.last, derivation.latest, derivation.peak
    _walk_on(walk, chain[-1], None)
    assert walk.last is not None
    energy = EnergyResult(
        wh(walk.total), wh(tally.baseline.register_wh), wh(walk.last.register_wh), (), tuple(walk.anomalies)
    )
    powers = [r for r in unique if r.measurand == POWER]
    socs = [r for r in unique if r.measurand == SOC]
    power = (powers[-1].at, powers[-1].value) if powers else tally.power
    peaks = [p for p in (tally.peak, *(float(r.value) for r in powers)) if p is not None]
    soc_last = (socs[-1].at, socs[-1].value) if socs else tally.soc_last
    soc_first = tally.soc_first if tally.soc_first is not None else (socs[0].value if socs else None)
    resumed = Tally(
        key=tally.key,
        total=total,
        last=last,
        pending=chain[-1],
        baseline=tally.baseline,
        anomalies=anomalies,
        counted_last=counted_last,
        derived_last=derived_last,
        derived_max=derived_max,
        power=power,
        peak=max(peaks) if peaks else None,
        soc_first=soc_first,
        soc_last=soc_last,
        first_at=tally.first_at,
        last_at=unique[-1].at if unique else tally.last_at,
    )
    stats = MeterStats(
        power_w=float(power[1]) if power is not None else derivation.latest,
        peak_power_w=resumed.peak if power is not None else derivation.peak,
        soc_percent=float(soc_last[1]) if soc_last is not None else None,
        soc_start_percent=float(soc_first) if soc_first is not None else None,
        last_reading_at=resumed.last_at,
        first_reading_at=tally.first_at,
    )
    return energy, stats, resumed


__all__ = ["Tally", "TallyCache", "advance", "tally_key", "tally_of"]
