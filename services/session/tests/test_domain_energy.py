"""Energy from register readings: the rules billing relies on, and properties over random sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from voltline_events.payloads import MeterSample, SampledValue
from voltline_session.domain.energy import MeterPolicy, compute_energy
from voltline_session.domain.meter import BEGIN, END, ENERGY, POWER, Reading, readings_from

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def r(minutes: float, wh: int | str, context: str | None = None, measurand: str = ENERGY) -> Reading:
    return Reading(T0 + timedelta(minutes=minutes), measurand, Decimal(wh), context)


def test_energy_is_end_minus_begin_not_a_sum_of_intervals() -> None:
    result = compute_energy([r(0, 1000, BEGIN), r(15, 4000), r(30, 6500), r(45, 7200, END)])
    assert (result.energy_wh, result.meter_start_wh, result.meter_stop_wh) == (6200, 1000, 7200)
    assert result.anomalies == ()
    assert [int(v) for _, v in result.cumulative] == [0, 3000, 5500, 6200]


def test_16_meter_start_and_stop_fields_count_like_readings() -> None:
    result = compute_energy(
        [r(15, 4000)], meter_start_wh=1000, started_at=T0, meter_stop_wh=7200, ended_at=T0 + timedelta(hours=1)
    )
    assert result.energy_wh == 6200
    assert [e.source for e in result.timeline] == ["meter_start", "reading", "meter_stop"]


def test_fractional_wh_round_only_at_the_end() -> None:
    assert compute_energy([r(0, "1000.4", BEGIN), r(10, "1000.8"), r(20, "2000.9", END)]).energy_wh == 1001


def test_zero_begin_does_not_bill_the_lifetime_meter() -> None:
    result = compute_energy([r(1, 5_000_500), r(30, 5_007_000)], meter_start_wh=0, started_at=T0)
    assert result.energy_wh == 6500 and result.meter_start_wh == 5_000_500
    assert "meter_start_zero_ignored" in result.anomalies
    # ... while a station whose register starts at zero per session keeps its zero begin
    per_session = compute_energy([r(15, 5500), r(30, 11000)], meter_start_wh=0, started_at=T0)
    assert per_session.energy_wh == 11000 and per_session.anomalies == ()


def test_zero_begin_reading_next_to_the_real_one_at_the_same_instant() -> None:
    result = compute_energy([r(0, 0, BEGIN), r(0, 7_000_000, BEGIN), r(20, 7_004_000, END)])
    assert result.energy_wh == 4000


def test_missing_begin_uses_the_first_real_reading() -> None:
    result = compute_energy([r(5, 8_000_000), r(20, 8_003_000), r(40, 8_010_000, END)])
    assert result.energy_wh == 10_000 and "meter_start_missing" in result.anomalies


def test_reset_counts_energy_since_the_restart_and_is_flagged() -> None:
    result = compute_energy([r(0, 10000, BEGIN), r(15, 12000), r(30, 500), r(45, 1500), r(60, 2000, END)])
    assert result.energy_wh == 4000 and result.anomalies == ("meter_reset",)


def test_a_step_backwards_counts_nothing_and_counting_resumes_from_there() -> None:
    result = compute_energy([r(0, 1000), r(15, 1600), r(20, 1700), r(30, 1200), r(45, 1300)])
    assert result.energy_wh == 800 and "meter_went_backwards" in result.anomalies
    # a value just above its successor is the odd one out, not a reason to count anything twice
    assert compute_energy([r(0, 1000), r(15, 1600), r(30, 1590)]).energy_wh == 590


def test_rollover_at_a_register_size_counts_the_wrap() -> None:
    result = compute_energy([r(0, 99_999_000, BEGIN), r(15, 99_999_800), r(30, 1200, END)])
    assert result.energy_wh == 2200 and result.anomalies == ("meter_rollover",)
    wrapped_32 = compute_energy([r(0, 2**32 - 500), r(10, 700)])
    assert wrapped_32.energy_wh == 1200 and "meter_rollover" in wrapped_32.anomalies


def test_outliers_are_ignored_dips_spikes_and_trailing_zero() -> None:
    result = compute_energy([r(0, 1000), r(15, 0), r(30, 1590), r(40, 99_999_999), r(45, 2000), r(50, 0)])
    assert result.energy_wh == 1000
    assert {"meter_outlier_ignored", "meter_stop_zero_ignored"} <= set(result.anomalies)
    assert result.meter_stop_wh == 2000


def test_impossible_jump_counts_nothing() -> None:
    result = compute_energy([r(0, 1000), r(1, 1100), r(2, 900_000), r(3, 900_100)])
    assert result.energy_wh == 200 and "meter_jump_ignored" in result.anomalies
    first = compute_energy([r(0, 1000), r(1, 900_000), r(2, 900_100)])
    assert first.energy_wh == 100 and "meter_start_implausible_ignored" in first.anomalies


def test_only_energy_register_counts() -> None:
    assert compute_energy([r(0, 1000), r(5, 99999, measurand=POWER), r(10, 1500)]).energy_wh == 500


def test_plausibility_follows_the_policy() -> None:
    slow = MeterPolicy(max_power_w=Decimal(3700))
    assert compute_energy([r(0, 0, BEGIN), r(60, 11_000)], policy=slow).energy_wh == 0  # 11 kWh/h > 3.7 kW
    assert compute_energy([r(0, 0, BEGIN), r(60, 3_000)], policy=slow).energy_wh == 3000


def test_nothing_known_is_zero() -> None:
    empty = compute_energy([])
    assert (empty.energy_wh, empty.meter_start_wh, empty.meter_stop_wh) == (0, None, None)


increments = st.lists(st.integers(min_value=0, max_value=20_000), min_size=1, max_size=30)


def _series(start: int, steps: list[int]) -> list[Reading]:
    values = [start]
    for step in steps:
        values.append(values[-1] + step)
    return [r(15 * i, v, BEGIN if i == 0 else END if i == len(values) - 1 else None) for i, v in enumerate(values)]


@settings(max_examples=150, deadline=None)
@given(start=st.integers(min_value=0, max_value=10**9), steps=increments, data=st.data())
def test_any_order_and_any_duplicates_give_the_same_energy(start: int, steps: list[int], data: st.DataObject) -> None:
    readings = _series(start, steps)
    expected = sum(steps)
    shuffled = data.draw(st.permutations(readings))
    duplicated = shuffled + data.draw(st.lists(st.sampled_from(readings), max_size=10))
    assert compute_energy(readings).energy_wh == expected
    assert compute_energy(duplicated).energy_wh == expected


@settings(max_examples=100, deadline=None)
@given(start=st.integers(min_value=1_000_000, max_value=10**9), steps=increments)
def test_units_do_not_matter(start: int, steps: list[int]) -> None:
    series = _series(start, steps)

    def samples(kwh: bool) -> list[MeterSample]:
        return [
            MeterSample(
                timestamp=x.at,
                values=[
                    SampledValue(
                        value=format(x.value / 1000, ".3f") if kwh else str(x.value),
                        unit="kWh" if kwh else "Wh",
                        context=x.context,
                    )
                ],
            )
            for x in series
        ]

    in_wh, in_kwh = readings_from(samples(False))[0], readings_from(samples(True))[0]
    assert compute_energy(in_kwh).energy_wh == compute_energy(in_wh).energy_wh == sum(steps)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.integers(min_value=0, max_value=10**10), min_size=0, max_size=25))
def test_energy_is_never_negative_and_the_timeline_never_goes_down(values: list[int]) -> None:
    result = compute_energy([r(10 * i, v) for i, v in enumerate(values)])
    assert result.energy_wh >= 0
    energies = [v for _, v in result.cumulative]
    assert energies == sorted(energies)
    assert not energies or round(energies[-1]) == result.energy_wh


@settings(max_examples=100, deadline=None)
@given(start=st.integers(min_value=20_000_000, max_value=10**9), steps=increments)
def test_zero_begin_never_bills_more_than_the_readings_show(start: int, steps: list[int]) -> None:
    readings = _series(start, steps)[1:]  # the real begin reading lost; the station says 0 instead
    result = compute_energy(readings, meter_start_wh=0, started_at=T0)
    assert result.energy_wh == sum(steps[1:])


def test_whole_wh_meter_stop_below_the_last_decimal_reading_is_rounding_not_an_outlier() -> None:
    # 1.6: MeterValues in decimal Wh, then StopTransaction meterStop in whole Wh (125.39 then 125).
    result = compute_energy(
        [r(1, "60.2"), r(5, "125.39"), r(5, "125.39", END)],
        meter_start_wh=50,
        started_at=T0,
        meter_stop_wh=125,
        ended_at=T0 + timedelta(minutes=5),
    )
    assert result.anomalies == ()
    assert (result.energy_wh, result.meter_stop_wh) == (75, 125)
    alone = compute_energy(
        [r(5, "125.39")], meter_start_wh=50, started_at=T0, meter_stop_wh=125, ended_at=T0 + timedelta(minutes=6)
    )
    assert alone.anomalies == () and alone.energy_wh == 75


def test_readings_after_the_end_stay_on_the_timeline_but_count_nothing() -> None:
    end = T0 + timedelta(minutes=10)
    late = [r(10 + 1 / 60, 107)]  # 1.6 MeterValues one second after StopTransaction (meterStop 66)
    result = compute_energy(late, meter_start_wh=0, started_at=T0, meter_stop_wh=66, ended_at=end)
    assert result.energy_wh == 66 and result.meter_stop_wh == 66 and result.anomalies == ()
    assert [(e.note, e.energy_wh) for e in result.timeline if e.source == "reading"] == [("after_end", None)]
    # while the session is still active, the same reading counts
    assert compute_energy(late, meter_start_wh=0, started_at=T0).energy_wh == 107


def _plausible_as_before(policy: MeterPolicy, energy_wh: Decimal, seconds: float) -> bool:
    """`MeterPolicy.plausible` as it was before its clock-slack shortcut."""
    hours = (Decimal(abs(seconds)).quantize(Decimal("0.001")) + policy.clock_slack_s) / 3600
    return energy_wh <= policy.max_power_w * hours


@settings(max_examples=400, deadline=None)
@given(
    power=st.decimals(min_value=1, max_value=10**7, places=0),
    slack=st.decimals(min_value=0, max_value=5, places=1),
    energy=st.one_of(
        st.decimals(min_value=0, max_value=10**7, places=3),
        st.integers(0, 2000).map(Decimal),
    ),
    seconds=st.floats(min_value=-100, max_value=10**5, allow_nan=False),
)
def test_the_clock_slack_shortcut_judges_as_the_full_rule(
    power: Decimal, slack: Decimal, energy: Decimal, seconds: float
) -> None:
    policy = MeterPolicy(max_power_w=power, clock_slack_s=slack)
    edge = power * slack / 3600  # exactly what the slack allows, and either side of it
    for value in (energy, edge, edge + Decimal("0.001"), edge - Decimal("0.001")):
        assert policy.plausible(value, seconds) == _plausible_as_before(policy, value, seconds)
