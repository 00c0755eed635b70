"""A session's contributions are built directly, one per hour (the replay's hottest pure rule); they equal what
the previous construction gave, one contribution per part merged by `measures.merge`, kept here as the
reference, over generated sessions (odd starts, empty and negative spans, readings at equal times and on hour
boundaries, periods, peaks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from voltline_analytics.domain.facts import Period, SessionFact
from voltline_analytics.domain.measures import Contribution, Measures, merge
from voltline_analytics.domain.timeslots import floor, hour_slices, seconds

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _reference(fact: SessionFact) -> list[Contribution]:
    """SessionFact.contributions as it was: a head, one part per hour slice, maybe the energy alone, merged."""
    start_hour = floor(fact.started_at, "hour")
    head = Measures(sessions=1)
    out = [Contribution(fact.station_id, start_hour, "", fact.driver, head)]
    if fact.ended_at is None:
        return out
    failure = fact.failure
    head.failed_sessions = int(failure is not None)
    head.completed_sessions = int(failure is None)
    head.failed_auth = int(failure == "auth")
    head.failed_error = int(failure == "error")
    head.failed_low_energy = int(failure == "low_energy")
    head.duration_s = seconds(fact.started_at, fact.ended_at) if failure is None else 0
    head.peak_power_w = float(fact.peak_power_w or 0)
    energies = _energy_by_hour(fact)
    charging = fact._charging_by_hour()
    for hour, a, b in hour_slices(fact.started_at, fact.ended_at):
        occupied = seconds(a, b)
        charged = min(occupied, charging.get(hour, occupied if fact._charged_throughout else 0))
        m = Measures(occupied_s=occupied, charging_s=charged, idle_s=occupied - charged)
        m.energy_wh = energies.get(hour, 0)
        out.append(Contribution(fact.station_id, hour, "", None, m))
    if not any(c.measures.energy_wh for c in out) and fact.energy_wh:
        out.append(Contribution(fact.station_id, start_hour, "", None, Measures(energy_wh=fact.energy_wh)))
    return merge(out)


def _energy_by_hour(fact: SessionFact) -> dict[datetime, int]:
    """SessionFact._energy_by_hour as it was (each boundary found by scanning every reading)."""
    assert fact.ended_at is not None
    points = [(fact.started_at, 0), *sorted(fact.timeline), (fact.ended_at, fact.energy_wh)]
    points = [(t, min(max(e, 0), fact.energy_wh)) for t, e in points if fact.started_at <= t <= fact.ended_at]

    def cumulative(at: datetime) -> int:
        before = [p for p in points if p[0] <= at]
        after = [p for p in points if p[0] >= at]
        (t0, e0), (t1, e1) = before[-1], after[0]
        if t1 == t0:
            return e1
        share = Decimal((at - t0).total_seconds()) / Decimal((t1 - t0).total_seconds())
        return int(e0 + (e1 - e0) * share)

    result: dict[datetime, int] = {}
    for hour, a, b in hour_slices(fact.started_at, fact.ended_at):
        upper = fact.energy_wh if b == fact.ended_at else cumulative(b)
        lower = 0 if a == fact.started_at else cumulative(a)
        if upper - lower:
            result[hour] = upper - lower
    return result


def _plain(contributions: list[Contribution]) -> list[tuple[object, ...]]:
    return [(c.station_id, c.hour, c.currency, c.driver_key, c.measures.as_dict()) for c in contributions]


offsets = st.integers(min_value=0, max_value=3 * 86_400_000_000)  # microseconds from T0


@st.composite
def sessions(draw: st.DrawFn) -> SessionFact:
    start = T0 + timedelta(microseconds=draw(offsets))
    ended = draw(st.booleans())
    length = timedelta(microseconds=draw(st.integers(min_value=-3_600_000_000, max_value=9 * 3_600_000_000)))
    if draw(st.booleans()):
        length = timedelta(seconds=round(length.total_seconds()))  # whole seconds, hour boundaries exact
    end = start + length
    energy = draw(st.integers(min_value=0, max_value=80_000))
    moments = st.one_of(
        st.builds(lambda us: start + timedelta(microseconds=us), st.integers(-600_000_000, 10 * 3_600_000_000)),
        st.builds(lambda h: floor(start, "hour") + timedelta(hours=h), st.integers(0, 9)),  # on a boundary
        st.just(start),
    )
    periods = [
        Period(state, min(a, b), max(a, b))
        for state, a, b in draw(
            st.lists(st.tuples(st.sampled_from(["charging", "idle"]), moments, moments), max_size=3)
        )
    ]
    timeline = draw(st.lists(st.tuples(moments, st.integers(-100, 90_000)), max_size=4))
    return SessionFact(
        session_id="S", station_id="CP", evse_id=1, connector_id=1, started_at=start,
        ended_at=end if ended else None, energy_wh=energy,
        peak_power_w=draw(st.one_of(st.none(), st.floats(-10.0, 200_000.0, allow_nan=False))),
        stop_reason=draw(st.sampled_from([None, "Local", "DeAuthorized", "PowerLoss", "EVDisconnected"])),
        driver=draw(st.sampled_from([None, "d1"])), revision=1 if ended else 0, periods=periods, timeline=timeline,
    )  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(sessions())
def test_contributions_equal_the_merged_parts(fact: SessionFact) -> None:
    assert _plain(fact.contributions()) == _plain(_reference(fact))
