"""When the EV was charging, suspended or idle-but-plugged: billing's time and idle fees rest on this.

Observations come from 1.6 StatusNotification (per connector) and 2.x TransactionEvent chargingState
(and the few 2.x connector statuses that say something: unplugged, faulted). They are kept per station
bay and laid over a session's window by the station's timestamps, so late or reordered ones land where
they belong. Time without an EV connected belongs to no period.

Energy overrules labels: a step of the register (between two consecutive counted readings) that delivered
energy while no part of it was labelled charging is charging time, whatever the station called it (a 2.x
station saying EVConnected, then only later Charging). So idle (parking) time never has energy, and an
idle fee never applies while energy is delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from voltline_session.domain.energy import wh

UNPLUGGED = "unplugged"  # internal: ends a period, never reported
DEFAULT_STATE = "charging"
# An observation this long before the start still tells the state at the start (statuses race StartTransaction).
START_LOOKBACK = timedelta(seconds=60)

_STATUS_16 = {
    "Charging": "charging",
    "SuspendedEV": "suspended_ev",
    "SuspendedEVSE": "suspended_evse",
    "Preparing": "idle",
    "Finishing": "idle",
    "Faulted": "suspended_evse",
    "Unavailable": "suspended_evse",
    "Available": UNPLUGGED,
}
_STATUS_2X = {"Available": UNPLUGGED, "Faulted": "suspended_evse", "Unavailable": "suspended_evse"}
_CHARGING_STATE = {
    "Charging": "charging",
    "SuspendedEV": "suspended_ev",
    "SuspendedEVSE": "suspended_evse",
    "EVConnected": "idle",
    "Idle": UNPLUGGED,  # 2.x: no EV connected
}


def state_from_status(ocpp_version: str, status: str) -> str | None:
    """The period state a connector status implies, or None when it says nothing about charging."""
    return (_STATUS_16 if ocpp_version == "ocpp1.6" else _STATUS_2X).get(status)


def state_from_charging_state(charging_state: str | None) -> str | None:
    return _CHARGING_STATE.get(charging_state) if charging_state else None


Segment = tuple[datetime, datetime, str]  # start, end, state


@dataclass(frozen=True)
class Observation:
    at: datetime
    state: str


@dataclass(frozen=True)
class Period:
    state: str
    start: datetime
    end: datetime
    energy_wh: int


def current_state(observations: Iterable[Observation], started_at: datetime) -> str:
    """The state now: the newest observation since (about) the start, else charging."""
    relevant = [o for o in observations if o.at >= started_at - START_LOOKBACK]
    return max(relevant, key=lambda o: o.at).state if relevant else DEFAULT_STATE


def _segments(started_at: datetime, ended_at: datetime, observations: Iterable[Observation]) -> list[Segment]:
    ordered = sorted(
        (o for o in observations if started_at - START_LOOKBACK <= o.at < ended_at), key=lambda o: (o.at, o.state)
    )
    before = [o for o in ordered if o.at <= started_at]
    changes = [(started_at, before[-1].state if before else DEFAULT_STATE)]
    for obs in ordered:
        if obs.at > started_at and obs.state != changes[-1][1]:
            changes.append((obs.at, obs.state))
    bounds = [at for at, _ in changes] + [ended_at]
    return [(bounds[i], bounds[i + 1], state) for i, (_, state) in enumerate(changes)]


def _merged(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for start, end, state in segments:
        if end <= start:
            continue
        if out and out[-1][2] == state and out[-1][1] == start:
            out[-1] = (out[-1][0], end, state)
        else:
            out.append((start, end, state))
    return out


def _energy_is_charging(segments: list[Segment], cumulative: Sequence[tuple[datetime, Decimal]]) -> list[Segment]:
    """Register steps with energy and no charging label become charging time (energy overrules labels)."""
    flowing: list[tuple[datetime, datetime]] = []
    for (a, e0), (b, e1) in pairwise(sorted(cumulative)):
        if e1 > e0 and b > a and not any(s == "charging" and _overlap(a, b, x, y) > 0 for x, y, s in segments):
            flowing.append((a, b))
    if not flowing:
        return segments
    cuts = sorted({t for a, b in flowing for t in (a, b)} | {t for x, y, _ in segments for t in (x, y)})
    pieces: list[Segment] = []
    for start, end, state in segments:
        inner = [start, *(t for t in cuts if start < t < end), end]
        for x, y in pairwise(inner):
            forced = any(a <= x and y <= b for a, b in flowing)
            pieces.append((x, y, "charging" if forced else state))
    return _merged(pieces)


def _overlap(a: datetime, b: datetime, c: datetime, d: datetime) -> float:
    return max(0.0, (min(b, d) - max(a, c)).total_seconds())


def _allocate(
    segments: list[tuple[datetime, datetime, str]], cumulative: Sequence[tuple[datetime, Decimal]]
) -> list[Decimal]:
    """Each step of the register goes to the charging time within it; to all of its time if nothing charged."""
    shares = [Decimal(0)] * len(segments)
    ordered = sorted(cumulative)
    for (a, e0), (b, e1) in pairwise(ordered):
        delta = e1 - e0
        if delta <= 0:
            continue
        spans = [_overlap(a, b, start, end) for start, end, _ in segments]
        charging = [span if seg[2] == "charging" else 0.0 for span, seg in zip(spans, segments, strict=True)]
        weights = charging if sum(charging) > 0 else spans
        if sum(weights) == 0:  # a step outside the session's window or at one instant: the nearest period
            weights = [0.0] * len(segments)
            weights[0 if b <= segments[0][0] else -1 if a >= segments[-1][1] else _containing(segments, b)] = 1.0
        total = sum(weights)
        for i, weight in enumerate(weights):
            shares[i] += delta * Decimal(weight / total)
    return shares


def _containing(segments: list[Segment], moment: datetime) -> int:
    for i, (start, end, _) in enumerate(segments):
        if start <= moment < end:
            return i
    return len(segments) - 1


def build_periods(
    started_at: datetime,
    ended_at: datetime,
    observations: Iterable[Observation],
    cumulative: Sequence[tuple[datetime, Decimal]],
    total_wh: int,
) -> list[Period]:
    """Consecutive periods covering the session except unplugged time; their energies sum to the total."""
    if ended_at <= started_at:
        return []
    segments = _energy_is_charging(_segments(started_at, ended_at, observations), cumulative)
    shares = _allocate(segments, cumulative)
    # Round running totals, not parts, so the parts add up to the total exactly.
    marks, running = [0], Decimal(0)
    for share in shares:
        running += share
        marks.append(min(wh(running), total_wh))
    marks[-1] = total_wh
    return [
        Period(state, start, end, max(0, marks[i + 1] - marks[i]))
        for i, (start, end, state) in enumerate(segments)
        if state != UNPLUGGED
    ]
