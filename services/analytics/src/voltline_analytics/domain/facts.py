"""Facts analytics keeps (one per session, CDR, refund and outage) and what each contributes to which hour.

A fact has a key and a rank: a fact with a higher rank supersedes the stored one with the same key (an
ended session supersedes its start, revision 2 supersedes revision 1); an equal rank replaces it too, so
redelivering a fact changes nothing. Hours are the charger's own timestamps, never arrival time.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from voltline_analytics.domain.measures import Contribution, Measures, to_micro
from voltline_analytics.domain.timeslots import floor, hour_slices, seconds

LOW_ENERGY_WH = 100  # a session that delivered under 0.1 kWh failed
AUTH_REFUSED = frozenset({"deauthorized"})
# Stop reasons (OCPP 1.6 Reason and 2.0.1 ReasonEnumType) that mean the session ended in an error.
ERROR_REASONS = frozenset(
    {
        "emergencystop",
        "groundfault",
        "overcurrentfault",
        "powerloss",
        "powerquality",
        "reboot",
        "hardreset",
        "immediatereset",
        "timeout",
    }
)


def driver_key(driver_id: str | None, id_token: str | None) -> str | None:
    """Who charged, as a short hash (drivers by account, else by token; never the token itself)."""
    who = f"d:{driver_id}" if driver_id else f"t:{id_token}" if id_token else None
    return hashlib.sha256(who.encode()).hexdigest()[:16] if who else None


def failure_of(ended: bool, stop_reason: str | None, energy_wh: int) -> str | None:
    """Why a session failed (auth, error, low_energy), or None; the first that applies wins."""
    if not ended:
        return None
    reason = (stop_reason or "").lower()
    if reason in AUTH_REFUSED:
        return "auth"
    if reason in ERROR_REASONS:
        return "error"
    if energy_wh < LOW_ENERGY_WH:
        return "low_energy"
    return None


@dataclass(frozen=True)
class Period:
    state: str
    start: datetime
    end: datetime


@dataclass
class SessionFact:
    session_id: str
    station_id: str
    evse_id: int | None
    connector_id: int | None
    started_at: datetime
    ended_at: datetime | None
    energy_wh: int = 0
    peak_power_w: float | None = None
    stop_reason: str | None = None
    driver: str | None = None
    id_token_type: str | None = None
    ocpp_version: str | None = None
    revision: int = 0  # 0: only started; an ended session has its revision (>= 1)
    periods: list[Period] = field(default_factory=list)
    timeline: list[tuple[datetime, int]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"session:{self.session_id}"

    @property
    def rank(self) -> int:
        return self.revision

    @property
    def failure(self) -> str | None:
        return failure_of(self.ended_at is not None, self.stop_reason, self.energy_wh)

    def contributions(self) -> list[Contribution]:
        start_hour = floor(self.started_at, "hour")
        head = Measures(sessions=1)
        out = [Contribution(self.station_id, start_hour, "", self.driver, head)]
        if self.ended_at is None:
            return out
        failure = self.failure
        head.failed_sessions = int(failure is not None)
        head.completed_sessions = int(failure is None)
        head.failed_auth = int(failure == "auth")
        head.failed_error = int(failure == "error")
        head.failed_low_energy = int(failure == "low_energy")
        head.duration_s = seconds(self.started_at, self.ended_at) if failure is None else 0
        head.peak_power_w = float(self.peak_power_w or 0)
        # One contribution per hour, the start hour's holding the head (what `merge` would make of one per
        # part, built directly: this runs for every ended session of a replay).
        energies = self._energy_by_hour()
        charging = self._charging_by_hour()
        throughout = self._charged_throughout
        by_hour = {start_hour: head}
        merged = had_energy = False
        for hour, a, b in hour_slices(self.started_at, self.ended_at):
            occupied = seconds(a, b)
            charged = min(occupied, charging.get(hour, occupied if throughout else 0))
            energy = energies.get(hour, 0)
            had_energy = had_energy or energy != 0
            held = by_hour.get(hour)
            if held is None:
                by_hour[hour] = Measures(occupied_s=occupied, charging_s=charged, idle_s=occupied - charged,
                                         energy_wh=energy)  # fmt: skip
            else:  # the start hour
                held.occupied_s += occupied
                held.charging_s += charged
                held.idle_s += occupied - charged
                held.energy_wh += energy
                merged = True
        if not had_energy and self.energy_wh:
            head.energy_wh += self.energy_wh
            merged = True
        if merged and head.peak_power_w < 0:  # merging took the max with the part's 0.0
            head.peak_power_w = 0.0
        return [Contribution(self.station_id, hour, "", self.driver if m is head else None, m)
                for hour, m in by_hour.items()]  # fmt: skip

    @property
    def _charged_throughout(self) -> bool:
        """Without periods, a session that delivered energy is taken as charging all along."""
        return not self.periods and self.energy_wh > 0

    def _charging_by_hour(self) -> dict[datetime, int]:
        found: dict[datetime, int] = {}
        for p in self.periods:
            if p.state != "charging":
                continue
            for hour, a, b in hour_slices(p.start, p.end):
                found[hour] = found.get(hour, 0) + seconds(a, b)
        return found

    def _energy_by_hour(self) -> dict[datetime, int]:
        """Energy per hour from the cumulative readings, interpolated at hour boundaries; sums to energy_wh."""
        assert self.ended_at is not None
        points = [(self.started_at, 0), *sorted(self.timeline), (self.ended_at, self.energy_wh)]
        points = [(t, min(max(e, 0), self.energy_wh)) for t, e in points if self.started_at <= t <= self.ended_at]

        times = [t for t, _ in points]  # in order: the readings are sorted and within [start, end]

        def cumulative(at: datetime) -> int:
            (t0, e0), (t1, e1) = points[bisect_right(times, at) - 1], points[bisect_left(times, at)]
            if t1 == t0:
                return e1
            share = Decimal((at - t0).total_seconds()) / Decimal((t1 - t0).total_seconds())
            return int(e0 + (e1 - e0) * share)

        result: dict[datetime, int] = {}
        for hour, a, b in hour_slices(self.started_at, self.ended_at):
            upper = self.energy_wh if b == self.ended_at else cumulative(b)
            lower = 0 if a == self.started_at else cumulative(a)
            if upper - lower:
                result[hour] = upper - lower
        return result


@dataclass
class CdrFact:
    """The priced session; its revenue counts in the hour the session started (corrections land there too)."""

    session_id: str
    cdr_id: str
    station_id: str
    started_at: datetime
    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    revision: int = 1

    @property
    def key(self) -> str:
        return f"cdr:{self.session_id}"

    @property
    def rank(self) -> int:
        return self.revision

    def contributions(self) -> list[Contribution]:
        m = Measures(cdrs=1, revenue_excl_vat=to_micro(self.total_excl_vat),
                     revenue_incl_vat=to_micro(self.total_incl_vat))  # fmt: skip
        return [Contribution(self.station_id, floor(self.started_at, "hour"), self.currency, None, m)]


@dataclass
class RefundFact:
    """Money given back: it reduces the revenue of the hour the refunded session started in."""

    refund_id: str
    session_id: str
    station_id: str
    session_started_at: datetime
    currency: str
    amount_excl_vat: Decimal
    amount_incl_vat: Decimal

    @property
    def key(self) -> str:
        return f"refund:{self.refund_id}"

    @property
    def rank(self) -> int:
        return 1

    def contributions(self) -> list[Contribution]:
        excl, incl = to_micro(self.amount_excl_vat), to_micro(self.amount_incl_vat)
        m = Measures(revenue_excl_vat=-excl, revenue_incl_vat=-incl, refunds_excl_vat=excl, refunds_incl_vat=incl)
        return [Contribution(self.station_id, floor(self.session_started_at, "hour"), self.currency, None, m)]


@dataclass
class OutageFact:
    """A closed stretch of unavailability: the station offline (all its ports down) or one port faulted."""

    station_id: str
    kind: str  # "offline" or "fault"
    evse_id: int | None
    start: datetime
    end: datetime
    error_code: str | None = None

    @property
    def key(self) -> str:
        port = "" if self.evse_id is None else f":{self.evse_id}"
        return f"outage:{self.kind}:{self.station_id}{port}:{self.start.isoformat()}"

    @property
    def rank(self) -> int:
        return 1

    def contributions(self) -> list[Contribution]:
        out = []
        for hour, a, b in hour_slices(self.start, self.end):
            s = seconds(a, b)
            m = Measures(offline_s=s) if self.kind == "offline" else Measures(fault_port_s=s)
            out.append(Contribution(self.station_id, hour, "", None, m))
        return out


@dataclass
class OccupiedFact:
    """A closed stretch in which a port reported an occupied status (status-based utilisation)."""

    station_id: str
    evse_id: int
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return f"occupied:{self.station_id}:{self.evse_id}:{self.start.isoformat()}"

    @property
    def rank(self) -> int:
        return 1

    def contributions(self) -> list[Contribution]:
        return [Contribution(self.station_id, hour, "", None, Measures(status_occupied_s=seconds(a, b)))
                for hour, a, b in hour_slices(self.start, self.end)]  # fmt: skip


Fact = SessionFact | CdrFact | RefundFact | OutageFact | OccupiedFact
