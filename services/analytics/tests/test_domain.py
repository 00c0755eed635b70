"""Pure rules: how a session splits into hours, what counts as failed, CO2 and NEVI uptime arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from voltline_analytics.domain.exports import Outage, port_uptime
from voltline_analytics.domain.facts import Period, SessionFact, failure_of
from voltline_analytics.domain.kpis import Co2Factors

T = datetime(2026, 11, 2, 8, 40, tzinfo=UTC)


def _hours(fact: SessionFact) -> dict[int, tuple[int, int, int, int]]:
    out: dict[int, tuple[int, int, int, int]] = {}
    for c in fact.contributions():
        m = c.measures
        prev = out.get(c.hour.hour, (0, 0, 0, 0))
        out[c.hour.hour] = (prev[0] + m.energy_wh, prev[1] + m.occupied_s, prev[2] + m.charging_s, prev[3] + m.sessions)
    return out


def test_a_session_splits_by_hour_using_its_readings_and_periods() -> None:
    end = T + timedelta(minutes=90)  # 08:40-10:10
    fact = SessionFact("S", "CP", 1, 1, T, end, energy_wh=9000, revision=1,
                       periods=[Period("charging", T, T + timedelta(minutes=60)),
                                Period("idle", T + timedelta(minutes=60), end)],
                       timeline=[(T + timedelta(minutes=20), 3000), (T + timedelta(minutes=60), 9000)])  # fmt: skip
    assert _hours(fact) == {
        8: (3000, 1200, 1200, 1),  # 20 min, 3 kWh read at 09:00
        9: (6000, 3600, 2400, 0),  # charging until 09:40, then idle
        10: (0, 600, 0, 0),
    }
    assert sum(e for e, *_ in _hours(fact).values()) == 9000


def test_energy_without_readings_is_spread_evenly_and_never_lost() -> None:
    fact = SessionFact("S", "CP", 1, 1, T, T + timedelta(minutes=40), energy_wh=1001, revision=1)
    hours = _hours(fact)
    assert hours[8][0] == 500 and hours[9][0] == 501  # 20 min each; the rounding rest lands in the last hour
    assert hours[8][2] == hours[8][1]  # no periods: charging throughout


def test_an_open_session_counts_only_as_started() -> None:
    fact = SessionFact("S", "CP", 1, 1, T, None)
    [only] = fact.contributions()
    assert (only.measures.sessions, only.measures.completed_sessions, only.measures.occupied_s) == (1, 0, 0)


def test_failures() -> None:
    assert failure_of(True, "DeAuthorized", 5000) == "auth"
    assert failure_of(True, "EmergencyStop", 5000) == "error"
    assert failure_of(True, "GroundFault", 0) == "error"
    assert failure_of(True, "Local", 99) == "low_energy"
    assert failure_of(True, "Local", 100) is None
    assert failure_of(False, None, 0) is None


def test_co2_avoided() -> None:
    # 170 g/km / 0.18 kWh/km - 250 g/kWh = 694.44 g per kWh
    assert Co2Factors().kg_avoided(60_000) == Decimal("41.667")


def test_nevi_uptime_merges_overlapping_outages_and_clips_to_the_month() -> None:
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    outages = [
        Outage(datetime(2026, 10, 31, 23, tzinfo=UTC), datetime(2026, 11, 1, 1, tzinfo=UTC), "offline"),
        Outage(datetime(2026, 11, 10, 10, tzinfo=UTC), datetime(2026, 11, 10, 12, tzinfo=UTC), "fault"),
        Outage(datetime(2026, 11, 10, 11, tzinfo=UTC), datetime(2026, 11, 10, 13, tzinfo=UTC), "offline"),
    ]
    row = port_uptime("CP", 1, start, end, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), outages)
    period_min, outage_min, uptime, count = row[3], row[4], row[6], row[7]
    assert (period_min, outage_min, count) == ("43200.0", "240.0", 2)  # 60 min + 180 min
    assert uptime == "99.44"


def test_money_is_summed_in_micro_units_and_shown_in_the_minor_unit() -> None:
    from voltline_analytics.domain.measures import from_micro, to_micro

    assert to_micro(Decimal("9.52")) == 9_520_000 and to_micro(Decimal("-4.76")) == -4_760_000
    assert to_micro(Decimal("0.0000005")) == 0  # beyond micro-units: half-even
    assert str(from_micro(to_micro(Decimal("7.00")) + to_micro(Decimal("12.00")), "EUR")) == "19.00"
    assert str(from_micro(1_500_000_000, "JPY")) == "1500" and str(from_micro(1_234_000, "KWD")) == "1.234"
    assert str(from_micro(123_456, "EUR")) == "0.123456"  # more digits than the minor unit: all of them
    assert str(from_micro(0, "EUR")) == "0"
