"""Uptime from status history (pure): the same history and exclusions always give the same figure.

Method (docs/diagnostics.md#uptime):
- An outage of a port (connector) is any time it was Faulted, Unavailable (unless the operator set it so),
  its station reported itself (connector 0) Faulted/Unavailable, or the station was offline.
- Exclusions are operator-declared intervals with a reason code (planned maintenance, grid outage, ...).
- NEVI (23 CFR 680.116(b)): per port, uptime = (T - (T_outage - T_excluded)) / T x 100, target ≥ 97 %;
  a station's figure is the mean of its ports'.
- UK (Public Charge Point Regulations 2023, reg. 10): a charge point is down while none of its connectors can
  charge; uptime = (T - (T_down - T_excluded)) / T x 100, target ≥ 99 % as a network average.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Method = Literal["nevi", "uk"]
TARGETS: dict[str, float] = {"nevi": 97.0, "uk": 99.0}
EXCLUSION_REASONS = (
    "planned_maintenance",
    "grid_outage",
    "vandalism",
    "natural_disaster",
    "network_outage",
    "operator_unavailable",
    "other",
)

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime
    reasons: tuple[str, ...]
    excluded_s: float

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Uptime:
    uptime_percent: float
    period_s: float
    outage_s: float
    excluded_s: float
    outages: tuple[Outage, ...]


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    out = []
    for a, b in intervals:
        a, b = max(a, start), min(b, end)
        if a < b:
            out.append((a, b))
    return out


def union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def intersect(left: Sequence[Interval], right: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    left, right = union(left), union(right)
    while i < len(left) and j < len(right):
        a, b = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if a < b:
            out.append((a, b))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def seconds(intervals: Iterable[Interval]) -> float:
    return sum((b - a).total_seconds() for a, b in intervals)


def uptime(
    start: datetime,
    end: datetime,
    outages: Iterable[tuple[datetime, datetime, str]],
    exclusions: Iterable[Interval],
) -> Uptime:
    """(T - (T_outage - T_excluded)) / T for one port or charge point; outages carry their reason."""
    if end <= start:
        raise ValueError("the period must end after it starts")
    labelled = [(a, b, r) for a, b, r in outages]
    merged = union(clip([(a, b) for a, b, _ in labelled], start, end))
    excluded = clip(union(exclusions), start, end)
    evidence = []
    for a, b in merged:
        reasons = tuple(sorted({r for x, y, r in labelled if x < b and y > a}))
        evidence.append(Outage(a, b, reasons, seconds(intersect([(a, b)], excluded))))
    period = (end - start).total_seconds()
    outage_s = seconds(merged)
    excluded_s = sum(o.excluded_s for o in evidence)
    percent = round((period - (outage_s - excluded_s)) / period * 100, 3)
    return Uptime(percent, period, outage_s, excluded_s, tuple(evidence))


def down_together(per_port: Sequence[Sequence[Interval]]) -> list[Interval]:
    """The intervals in which every port was down (the UK view of a charge point)."""
    if not per_port:
        return []
    common = union(per_port[0])
    for other in per_port[1:]:
        common = intersect(common, other)
    return common
