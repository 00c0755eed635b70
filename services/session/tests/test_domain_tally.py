"""Running meter totals: folding new readings into a tally gives what a recompute from all readings gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from voltline_session.domain.energy import MeterPolicy, compute_energy, walk_energy
from voltline_session.domain.meter import BEGIN, ENERGY, POWER, SOC, Reading
from voltline_session.domain.stats import meter_stats
from voltline_session.domain.tally import Tally, TallyCache, advance, tally_key, tally_of

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
POLICY = MeterPolicy(max_power_w=Decimal(50_000))


def full(readings: list[Reading], meter_start: int | None) -> tuple[object, ...]:
    energy = compute_energy(readings, meter_start_wh=meter_start, started_at=T0, policy=POLICY)
    stats = meter_stats(readings, energy)
    return energy.energy_wh, energy.meter_start_wh, energy.meter_stop_wh, energy.anomalies, stats


def tallied(readings: list[Reading], meter_start: int | None) -> Tally | None:
    _, checkpoint = walk_energy(readings, meter_start_wh=meter_start, started_at=T0, policy=POLICY)
    found = tally_of(tally_key(T0, meter_start, None, None, POLICY), readings, checkpoint)
    # stored as JSON on the session row: what comes back is what went in
    return None if found is None else Tally.from_json(found.to_json())


# A register that mostly grows, with the glitches the energy rules judge: dips to 0, resets, spikes, rounding.
value = st.one_of(
    st.integers(0, 400).map(lambda x: ("grow", x)),
    st.just(("zero", 0)),
    st.integers(1, 200).map(lambda x: ("back", x)),
    st.just(("round", 0)),
    st.integers(10**5, 10**6).map(lambda x: ("spike", x)),
)
sample = st.tuples(
    st.integers(1, 120),  # seconds after the previous sample
    value,
    st.one_of(st.none(), st.integers(0, 22000)),  # power, if sent
    st.one_of(st.none(), st.integers(0, 100)),  # SoC, if sent
    st.booleans(),  # energy sent at all
)


def series(start: int, steps: list[tuple[object, ...]]) -> list[Reading]:
    out: list[Reading] = []
    at, register = T0, Decimal(start)
    for gap, (kind, x), power, soc, with_energy in steps:
        at += timedelta(seconds=gap)  # type: ignore[operator]
        shown = register
        if kind == "grow":
            register += x  # type: ignore[operator]
            shown = register
        elif kind == "zero":
            shown = Decimal(0)
        elif kind == "back":
            register -= x  # type: ignore[operator]
            shown = register
        elif kind == "round":
            shown = register - Decimal("0.4")
        elif kind == "spike":
            shown = register + x  # type: ignore[operator]
        if with_energy:
            out.append(Reading(at, ENERGY, shown))
        if power is not None:
            out.append(Reading(at, POWER, Decimal(power)))
        if soc is not None:
            out.append(Reading(at, SOC, Decimal(soc)))
    return out


@settings(max_examples=400, deadline=None)
@given(
    start=st.integers(0, 10**6),
    meter_start=st.one_of(st.none(), st.just(0), st.integers(0, 10**6)),
    steps=st.lists(sample, min_size=1, max_size=30),
    cuts=st.lists(st.integers(1, 30), min_size=1, max_size=4),
)
def test_folding_readings_into_the_tally_equals_recomputing_from_all(
    start: int, meter_start: int | None, steps: list[tuple[object, ...]], cuts: list[int]
) -> None:
    readings = series(start, steps)
    known = 0
    tally: Tally | None = None
    for cut in [*sorted(set(cuts)), len(readings)]:
        if cut <= known or cut > len(readings):
            continue
        new = readings[known:cut]
        folded = advance(tally, tally_key(T0, meter_start, None, None, POLICY), new, POLICY) if tally else None
        if folded is None:  # no tally yet (fewer than two register values counted): recompute from all
            tally = tallied(readings[:cut], meter_start)
        else:
            energy, stats, tally = folded
            expected = full(readings[:cut], meter_start)
            assert (energy.energy_wh, energy.meter_start_wh, energy.meter_stop_wh, energy.anomalies, stats) == expected
            assert tally == tallied(readings[:cut], meter_start)
            # What TallyCache relies on: the tally its stored JSON gives back is this one, to the digit.
            stored = json.loads(json.dumps(tally.to_json()))
            back = Tally.from_json(stored)
            assert back == tally and back.to_json() == stored
            cache = TallyCache()
            assert cache.decode("s", cache.encode("s", tally)) is tally
            assert cache.decode("s", stored) is tally
        known = cut


def test_the_cache_parses_a_tally_it_did_not_write_last() -> None:
    readings = series(1000, [(10, ("grow", 5), 7000, None, True)] * 4)
    first, second = tallied(readings[:3], 0), tallied(readings, 0)
    assert first is not None and second is not None and first != second
    cache = TallyCache(size=2)
    cache.encode("a", first)
    assert cache.decode("a", second.to_json()) == second  # another tally than it wrote: parsed
    assert cache.decode("b", first.to_json()) == first  # another session's
    cache.encode("b", second)
    cache.encode("c", second)  # over its size: forgets what it wrote, which only costs a parse
    assert cache.decode("a", first.to_json()) == first


def test_a_reading_not_later_than_the_tally_or_a_begin_value_asks_for_a_recompute() -> None:
    readings = [Reading(T0 + timedelta(minutes=m), ENERGY, Decimal(1000 + 100 * m)) for m in range(4)]
    tally = tallied(readings, None)
    assert tally is not None
    key = tally_key(T0, None, None, None, POLICY)
    assert advance(tally, key, [Reading(T0 + timedelta(minutes=2), POWER, Decimal(5))], POLICY) is None
    late_begin = Reading(T0 + timedelta(minutes=9), ENERGY, Decimal(2000), BEGIN)
    assert advance(tally, key, [late_begin], POLICY) is None
    assert advance(tally, tally_key(T0, 900, None, None, POLICY), [], POLICY) is None  # a meterStart arrived since
    energy, _, _ = advance(tally, key, [Reading(T0 + timedelta(minutes=9), ENERGY, Decimal(2000))], POLICY) or (
        None,
        None,
        None,
    )
    assert energy is not None and energy.energy_wh == 1000
