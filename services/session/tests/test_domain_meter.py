"""Meter readings: units, phases, locations and bad values."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from voltline_events.payloads import MeterSample, SampledValue
from voltline_session.domain.meter import ENERGY, POWER, SOC, Reading, _select, as_utc, readings_from

T = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def sv(value: str, measurand: str = ENERGY, **kw: str | int | None) -> SampledValue:
    return SampledValue(value=value, measurand=measurand, **kw)


def one(*values: SampledValue, at: datetime = T) -> list:
    readings, problems = readings_from([MeterSample(timestamp=at, values=list(values))])
    return [(r.measurand, r.value, r.context) for r in readings] + [("problem", p) for p in problems]


def test_kwh_is_converted_exactly_and_wh_is_the_default() -> None:
    assert one(sv("12.3456", unit="kWh")) == [(ENERGY, Decimal("12345.6"), None)]
    assert one(sv("1234")) == [(ENERGY, Decimal(1234), None)]
    assert one(sv("7.5", POWER, unit="kW")) == [(POWER, Decimal(7500), None)]


def test_2x_multiplier_scales_exactly_and_signed_data_is_not_a_number() -> None:
    assert one(sv("12345", unit="Wh", multiplier=-1)) == [(ENERGY, Decimal("1234.5"), None)]  # type: ignore[arg-type]
    assert one(sv("12", unit="Wh", multiplier=3)) == [(ENERGY, Decimal(12000), None)]  # type: ignore[arg-type]
    signed = sv("AQIDBAUG", format="SignedData")
    assert one(signed, sv("1500")) == [(ENERGY, Decimal(1500), None)]
    assert one(signed) == []


def test_the_total_wins_over_phases_and_phases_are_summed_without_it() -> None:
    phases = [sv("100", phase="L1"), sv("200", phase="L2"), sv("300", phase="L3")]
    assert one(*phases, sv("601")) == [(ENERGY, Decimal(601), None)]
    assert one(*phases) == [(ENERGY, Decimal(600), None)]
    assert one(sv("100", phase="L1"), sv("200", phase="L2")) == []  # incomplete: no guess


def test_outlet_is_preferred_to_inlet_and_soc_comes_from_the_ev() -> None:
    values = [sv("1010", location="Inlet"), sv("1000", location="Outlet"), sv("55", SOC, unit="Percent", location="EV")]
    assert one(*values) == [(ENERGY, Decimal(1000), None), (SOC, Decimal(55), None)]
    assert one(sv("1010", location="Inlet")) == [(ENERGY, Decimal(1010), None)]


def test_a_batch_without_energy_yields_no_energy_reading() -> None:
    assert one(sv("7000", POWER, unit="W"), sv("40", SOC, unit="Percent")) == [
        (POWER, Decimal(7000), None),
        (SOC, Decimal(40), None),
    ]


def test_bad_values_are_skipped_and_reported() -> None:
    found = one(sv("abc"), sv("12", POWER, unit="furlongs"))
    assert ("problem", "unparseable Energy.Active.Import.Register value 'abc'") in found
    assert any(p[0] == "problem" and "furlongs" in p[1] for p in found)
    assert one(sv("-5")) == [("problem", "negative Energy.Active.Import.Register value '-5'")]
    assert one(sv("NaN"))[0][0] == "problem"


def test_context_and_zone_less_timestamps() -> None:
    readings, _ = readings_from(
        [MeterSample(timestamp=datetime(2026, 1, 1, 8), values=[sv("1", context="Sample.Clock")])]
    )
    assert readings[0].at == datetime(2026, 1, 1, 8, tzinfo=UTC) and readings[0].context == "Sample.Clock"


_VALUES = st.builds(
    SampledValue,
    value=st.sampled_from(["0", "12.3456", "1500", "-5", "abc", "NaN", " 7 ", "1E+3"]),
    measurand=st.sampled_from([ENERGY, POWER, SOC, "Current.Import", ""]),
    unit=st.sampled_from([None, "Wh", "kWh", "W", "kW", "Percent", "furlongs"]),
    context=st.sampled_from([None, "Sample.Periodic", "Transaction.End"]),
    phase=st.sampled_from([None, None, None, "L1", "L2", "L3", "L1-N"]),
    location=st.sampled_from([None, None, "Outlet", "Inlet", "EV"]),
    multiplier=st.sampled_from([None, None, 0, -1, 3]),
    format=st.sampled_from([None, None, "Raw", "SignedData"]),
)


def _general(samples: list[MeterSample]) -> tuple[list[Reading], list[str]]:
    """readings_from without its one-pass path for plain totals: every sample through `_select`."""
    readings: list[Reading] = []
    problems: list[str] = []
    for sample in samples:
        for measurand in (ENERGY, POWER, SOC):
            picked = _select(sample, measurand, problems)
            if picked is not None:
                readings.append(Reading(as_utc(sample.timestamp), measurand, picked[0], picked[1]))
    return readings, problems


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_VALUES, max_size=5), min_size=1, max_size=3))
def test_the_one_pass_path_picks_what_the_general_path_picks(values: list[list[SampledValue]]) -> None:
    samples = [MeterSample(timestamp=T, values=v) for v in values]
    fast, slow = readings_from(samples), _general(samples)
    assert fast == slow
    assert [str(r.value) for r in fast[0]] == [str(r.value) for r in slow[0]]  # the same exponent too
