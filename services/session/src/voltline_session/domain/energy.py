"""The energy of a session, from the station's register readings: the part billing trusts.

Energy is never summed from intervals a station reports; it is the growth of the energy register
(Energy.Active.Import.Register) across the session, computed from scratch from every reading known so
far, sorted by the station's timestamps. So the answer depends only on *which* readings arrived, never
on their order, and a duplicate adds nothing. Physics is the referee for bad data: a register cannot
grow faster than `MeterPolicy.max_power_w` allows.

Rules (docs/sessions.md explains them with examples):
- The first reading is the baseline. A begin value (meterStart, Transaction.Begin) that the next reading
  exceeds by more than is physically possible — typically 0 from a station whose register is a
  lifetime meter — is ignored, so the station's lifetime energy is never billed.
- A reading out of line with both neighbours (a dip to 0, a spike) is an outlier and ignored; a trailing 0
  is ignored too.
- A register that goes down is a rollover when it was in the top tenth of a register size (10^n Wh,
  2^16, 2^31, 2^32), lands in the bottom tenth and the wrap is plausible. Otherwise it is a reset: when the
  new value is below a tenth of the old one and plausible, it counts as energy since the register restarted
  at zero; any other step backwards counts nothing (never bill a guess).
- A jump up that is not physically possible counts nothing.
- A step down of less than `ROUNDING_WH` is rounding (a whole-Wh meterStop after decimal readings), not
  an anomaly: it counts nothing and the higher value stays the reference.
- Once a session has ended, readings timestamped after its end stay on the timeline (`after_end`) but
  count nothing: the energy of a closed session is what billing priced.
Every such decision is recorded as an anomaly on the session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from voltline_session.domain.meter import BEGIN, END, ENERGY, Reading

_ROLLOVER_MODULI = sorted({10**k for k in range(5, 13)} | {2**16, 2**31, 2**32})
_TENTH = Decimal("0.1")
_RANK = {"begin": 0, "sample": 1, "end": 2}
# Registers are reported with different resolutions (1.6 meterStop in whole Wh, readings in decimal Wh or kWh
# with 3 decimals): a value this much below the previous one is the same register, rounded.
ROUNDING_WH = Decimal(1)
AFTER_END = "after_end"


@dataclass(frozen=True)
class MeterPolicy:
    max_power_w: Decimal = Decimal(1_000_000)
    # Station timestamps have a resolution of a second at best; allow this much clock slack per step.
    clock_slack_s: Decimal = Decimal(2)

    def plausible(self, energy_wh: Decimal, seconds: float) -> bool:
        # What the clock slack alone allows (less a margin far above the division's rounding) needs no
        # conversion of `seconds`: a step of a few Wh, the common case, is plausible whatever the interval.
        if self.within_slack(energy_wh):
            return True
        hours = (Decimal(abs(seconds)).quantize(Decimal("0.001")) + self.clock_slack_s) / 3600
        return energy_wh <= self.max_power_w * hours

    def within_slack(self, energy_wh: Decimal) -> bool:
        """Plausible over any interval: the clock slack alone allows it (`plausible` then needs no seconds)."""
        return energy_wh * 3600 <= self._slack_allows

    @cached_property
    def _slack_allows(self) -> Decimal:
        """3600 x the energy the clock slack alone makes plausible, a thousandth short (exact products)."""
        return self.max_power_w * self.clock_slack_s * Decimal("0.999")


@dataclass(frozen=True)
class Point:
    at: datetime
    register_wh: Decimal
    kind: str  # begin | sample | end
    source: str  # reading | meter_start | meter_stop


@dataclass(frozen=True)
class TimelineEntry:
    """One register value and what it meant; `energy_wh` is None when the value was not used."""

    at: datetime
    register_wh: Decimal
    energy_wh: Decimal | None
    kind: str
    source: str
    note: str | None = None


@dataclass(frozen=True)
class EnergyResult:
    energy_wh: int
    meter_start_wh: int | None
    meter_stop_wh: int | None
    timeline: tuple[TimelineEntry, ...]
    anomalies: tuple[str, ...]

    @property
    def cumulative(self) -> list[tuple[datetime, Decimal]]:
        """(instant, energy since the session's baseline) for every value that counted, in time order."""
        return [(e.at, e.energy_wh) for e in self.timeline if e.energy_wh is not None]


def wh(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _kind(context: str | None) -> str:
    return "begin" if context == BEGIN else "end" if context == END else "sample"


def _points(
    readings: Iterable[Reading],
    meter_start_wh: int | None,
    started_at: datetime | None,
    meter_stop_wh: int | None,
    ended_at: datetime | None,
) -> list[Point]:
    points = [Point(r.at, r.value, _kind(r.context), "reading") for r in readings if r.measurand == ENERGY]
    if meter_start_wh is not None and started_at is not None:
        points.append(Point(started_at, Decimal(meter_start_wh), "begin", "meter_start"))
    if meter_stop_wh is not None and ended_at is not None:
        points.append(Point(ended_at, Decimal(meter_stop_wh), "end", "meter_stop"))
    points.sort(key=lambda p: (p.at, _RANK[p.kind], p.register_wh))
    unique: list[Point] = []
    for point in points:  # the same value at the same instant, however often sent, is one reading
        if not unique or (unique[-1].at, unique[-1].register_wh) != (point.at, point.register_wh):
            unique.append(point)
    return unique


def _seconds(a: Point, b: Point) -> float:
    return (b.at - a.at) / timedelta(seconds=1)


class _Walk:
    """Accumulates energy point by point; keeps the timeline and the anomalies."""

    def __init__(self, policy: MeterPolicy) -> None:
        self.policy = policy
        self.total = Decimal(0)
        self.timeline: list[TimelineEntry] = []
        self.anomalies: list[str] = []
        self.last: Point | None = None

    def note(self, anomaly: str) -> None:
        if anomaly not in self.anomalies:
            self.anomalies.append(anomaly)

    def entry(self, point: Point, energy_wh: Decimal | None, note: str | None = None) -> None:
        """What `point` meant (its energy so far, None when not used): the timeline's entry."""
        self.timeline.append(TimelineEntry(point.at, point.register_wh, energy_wh, point.kind, point.source, note))

    def skip(self, point: Point, why: str) -> None:
        self.entry(point, None, why)
        self.note(why)

    def count(self, point: Point, delta: Decimal, note: str | None = None) -> None:
        self.total += delta
        self.entry(point, self.total, note)
        if note:
            self.note(note)
        self.last = point

    def step(self, point: Point) -> None:
        prev = self.last
        assert prev is not None
        if prev.register_wh - ROUNDING_WH < point.register_wh < prev.register_wh:
            # Rounding: nothing counted, and the (higher) previous value stays the reference.
            self.entry(point, self.total)
            return
        if point.register_wh >= prev.register_wh:
            delta = point.register_wh - prev.register_wh
            if self.policy.within_slack(delta) or self.policy.plausible(delta, _seconds(prev, point)):
                self.count(point, delta)
            else:
                self.count(point, Decimal(0), "meter_jump_ignored")
            return
        seconds = _seconds(prev, point)
        for modulus in _ROLLOVER_MODULI:
            if modulus * (1 - _TENTH) <= prev.register_wh < modulus and point.register_wh < modulus * _TENTH:
                wrapped = modulus - prev.register_wh + point.register_wh
                if self.policy.plausible(wrapped, seconds):
                    self.count(point, wrapped, "meter_rollover")
                    return
        if point.register_wh <= prev.register_wh * _TENTH and self.policy.plausible(point.register_wh, seconds):
            self.count(point, point.register_wh, "meter_reset")
        else:
            self.count(point, Decimal(0), "meter_went_backwards")


def _outlier(prev: Point, point: Point, nxt: Point | None, policy: MeterPolicy) -> str | None:
    """Why `point` should be ignored given its neighbours, if it should."""
    if nxt is None:
        return "meter_stop_zero_ignored" if point.register_wh == 0 < prev.register_wh else None
    if point.register_wh == prev.register_wh or not prev.register_wh - ROUNDING_WH < nxt.register_wh:
        return None
    if prev.register_wh - ROUNDING_WH < point.register_wh < nxt.register_wh + ROUNDING_WH:
        return None
    around = nxt.register_wh - prev.register_wh
    return "meter_outlier_ignored" if policy.plausible(around, _seconds(prev, nxt)) else None


def _drop_implausible_start(points: list[Point], walk: _Walk) -> list[Point]:
    """A begin value the next reading exceeds impossibly (0 from a lifetime meter) is not the baseline."""
    while len(points) > 1:
        first, nxt = points[0], points[1]
        jump = nxt.register_wh - first.register_wh
        if jump <= 0 or walk.policy.plausible(jump, _seconds(first, nxt)):
            break
        walk.skip(first, "meter_start_zero_ignored" if first.register_wh == 0 else "meter_start_implausible_ignored")
        points = points[1:]
    return points


@dataclass(frozen=True)
class Checkpoint:
    """The walk just before its last point, whose fate (outlier or not) depends on the point after it: from
    here a reading later than every known one continues the walk exactly (`domain.tally`)."""

    total: Decimal
    last: Point
    pending: Point
    baseline: Point
    anomalies: tuple[str, ...]
    counted: tuple[tuple[datetime, Decimal], ...]  # the cumulative energy before `pending`, in time order


def compute_energy(
    readings: Iterable[Reading],
    *,
    meter_start_wh: int | None = None,
    started_at: datetime | None = None,
    meter_stop_wh: int | None = None,
    ended_at: datetime | None = None,
    policy: MeterPolicy | None = None,
) -> EnergyResult:
    """Energy delivered so far (or in total, once ended), with the register values it rests on."""
    return walk_energy(
        readings,
        meter_start_wh=meter_start_wh,
        started_at=started_at,
        meter_stop_wh=meter_stop_wh,
        ended_at=ended_at,
        policy=policy,
    )[0]


def walk_energy(
    readings: Iterable[Reading],
    *,
    meter_start_wh: int | None = None,
    started_at: datetime | None = None,
    meter_stop_wh: int | None = None,
    ended_at: datetime | None = None,
    policy: MeterPolicy | None = None,
) -> tuple[EnergyResult, Checkpoint | None]:
    """`compute_energy`, and where an open session's walk stands before its last point (None when a later
    reading could still change the baseline: fewer than two points past the dropped starts, or an end)."""
    walk = _Walk(policy or MeterPolicy())
    points = _points(readings, meter_start_wh, started_at, meter_stop_wh, ended_at)
    if ended_at is not None:
        late = [p for p in points if p.at > ended_at]
        points = [p for p in points if p.at <= ended_at]
        for point in late:  # kept on the timeline, never counted: a closed session's energy is final
            walk.timeline.append(TimelineEntry(point.at, point.register_wh, None, point.kind, point.source, AFTER_END))
    if points and all(p.kind != "begin" for p in points):
        walk.note("meter_start_missing")
    points = _drop_implausible_start(points, walk)
    if not points:
        return EnergyResult(0, None, None, tuple(walk.timeline), tuple(walk.anomalies)), None
    walk.count(points[0], Decimal(0))
    baseline = points[0]
    checkpoint: Checkpoint | None = None
    for index in range(1, len(points)):
        point = points[index]
        assert walk.last is not None
        nxt = points[index + 1] if index + 1 < len(points) else None
        if nxt is None and ended_at is None:
            counted = tuple((e.at, e.energy_wh) for e in walk.timeline if e.energy_wh is not None)
            checkpoint = Checkpoint(walk.total, walk.last, point, baseline, tuple(walk.anomalies), counted)
        why = _outlier(walk.last, point, nxt, walk.policy)
        if why:
            walk.skip(point, why)
            continue
        walk.step(point)
    assert walk.last is not None
    timeline = tuple(sorted(walk.timeline, key=lambda e: (e.at, _RANK[e.kind])))
    result = EnergyResult(
        wh(walk.total), wh(baseline.register_wh), wh(walk.last.register_wh), timeline, tuple(walk.anomalies)
    )
    return result, checkpoint
