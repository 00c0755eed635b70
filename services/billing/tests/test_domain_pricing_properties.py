"""Invariants of the pricing engine over generated tariffs and sessions (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from voltline_billing.domain.adjustments import PlanDiscount
from voltline_billing.domain.pricing import price
from voltline_billing.domain.tariffs import (
    DayOfWeek,
    Dimension,
    PriceComponent,
    PriceLimit,
    Tariff,
    TariffElement,
    TariffRestrictions,
)
from voltline_billing.domain.usage import Period, Reading, Usage

START = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # the night Europe switches to summer time
STATES = ["charging", "suspended_ev", "suspended_evse", "idle"]

prices = st.decimals(min_value=0, max_value=50, places=4)
vats = st.one_of(st.none(), st.sampled_from([Decimal(0), Decimal(7), Decimal("19"), Decimal("20.5")]))


@st.composite
def components(draw: st.DrawFn, dimensions: list[Dimension]) -> list[PriceComponent]:
    chosen = draw(st.lists(st.sampled_from(dimensions), min_size=1, max_size=4, unique=True))
    return [
        PriceComponent(
            type=d, price=draw(prices), vat=draw(vats), step_size=draw(st.sampled_from([1, 1, 60, 300, 1000]))
        )
        for d in chosen
    ]


@st.composite
def time_restrictions(draw: st.DrawFn) -> TariffRestrictions | None:
    hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 59]))
    return draw(
        st.one_of(
            st.none(),
            st.builds(TariffRestrictions, start_time=hhmm, end_time=hhmm),
            st.builds(TariffRestrictions, day_of_week=st.lists(st.sampled_from(list(DayOfWeek)), min_size=1)),
            st.builds(TariffRestrictions, min_duration=st.integers(0, 7200), max_duration=st.integers(0, 20000)),
            st.builds(TariffRestrictions, min_kwh=st.decimals(0, 40, places=1), max_kwh=st.decimals(0, 80, places=1)),
            st.builds(TariffRestrictions, min_power=st.decimals(0, 50, places=1)),
        )
    )


@st.composite
def tariffs(draw: st.DrawFn, restricted: bool = True) -> Tariff:
    dims = list(Dimension)
    restriction = time_restrictions() if restricted else st.none()
    elements = [
        TariffElement(price_components=draw(components(dims)), restrictions=draw(restriction))
        for _ in range(draw(st.integers(1, 4)))
    ]
    if not restricted and draw(st.booleans()):  # energy-only tiers: not time restrictions
        tier = TariffRestrictions(max_kwh=draw(st.decimals(1, 30, places=1)))
        elements.insert(0, TariffElement(price_components=draw(components([Dimension.ENERGY])), restrictions=tier))
    limits = draw(st.one_of(st.none(), st.tuples(st.decimals(0, 5, places=2), st.decimals(5, 40, places=2))))
    return Tariff(
        tariff_id="GEN",
        currency=draw(st.sampled_from(["EUR", "JPY", "KWD"])),
        time_zone=draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"])),
        elements=elements,
        vat_percent=draw(vats),
        min_price=PriceLimit(excl_vat=limits[0]) if limits else None,
        max_price=PriceLimit(excl_vat=limits[1]) if limits else None,
    )


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    cuts = sorted(set(draw(st.lists(st.integers(1, 6 * 3600 - 1), max_size=6))))
    bounds = [0, *cuts, draw(st.integers(max(cuts, default=0) + 1, 6 * 3600))]
    periods = tuple(
        Period(draw(st.sampled_from(STATES)), START + timedelta(seconds=a), START + timedelta(seconds=b),
               draw(st.integers(0, 20_000)))
        for a, b in itertools.pairwise(bounds)
    )  # fmt: skip
    total = draw(st.integers(0, 80_000))
    timeline: tuple[Reading, ...] = ()
    if draw(st.booleans()):
        times = sorted(set(draw(st.lists(st.integers(1, bounds[-1]), max_size=8))))
        values = sorted(draw(st.lists(st.integers(0, total), min_size=len(times), max_size=len(times))))
        timeline = tuple(Reading(START + timedelta(seconds=t), e) for t, e in zip(times, values, strict=True))
    return Usage(START, START + timedelta(seconds=bounds[-1]), total, periods=periods, timeline=timeline)


plans = st.one_of(
    st.none(),
    st.builds(
        PlanDiscount,
        plan_id=st.just("P"),
        included_wh_remaining=st.integers(0, 30_000),
        energy_discount_percent=st.decimals(0, 100, places=2),
        session_fee_discount_percent=st.decimals(0, 100, places=2),
    ),
)


@settings(max_examples=300, deadline=None)
@given(tariffs(), usages(), plans)
def test_totals_are_sums_never_negative_and_in_one_currency(tariff: Tariff, usage: Usage, plan) -> None:  # type: ignore[no-untyped-def]
    priced = price(tariff, usage, plan)
    assert priced.total_excl_vat >= 0 and priced.total_vat >= 0 and priced.total_incl_vat >= 0
    assert sum((line.amount for line in priced.lines), Decimal(0)) == priced.total_excl_vat
    assert sum((v.vat for v in priced.vat), Decimal(0)) == priced.total_vat
    assert priced.total_incl_vat == priced.total_excl_vat + priced.total_vat
    assert all(line.currency == tariff.currency for line in priced.lines)
    exponent = {"EUR": -2, "JPY": 0, "KWD": -3}[tariff.currency]
    assert all(line.amount.as_tuple().exponent >= exponent for line in priced.lines)
    if tariff.min_price is not None:
        assert priced.total_excl_vat >= tariff.min_price.excl_vat.quantize(Decimal(10) ** exponent)
    measured_wh = sum(int(line.quantity.scaleb(3)) for line in priced.lines
                      if line.kind == "tariff" and line.dimension is Dimension.ENERGY)  # fmt: skip
    assert measured_wh <= usage.energy_wh


def split(usage: Usage, at_s: int) -> Usage:
    """The same session with one of its periods cut in two at `at_s` (nothing about it changes)."""
    at = START + timedelta(seconds=at_s)
    periods: list[Period] = []
    for p in usage.periods:
        if p.start < at < p.end:
            share = p.energy_wh * (at - p.start) // (p.end - p.start)
            periods += [Period(p.state, p.start, at, share), Period(p.state, at, p.end, p.energy_wh - share)]
        else:
            periods.append(p)
    return Usage(usage.started_at, usage.ended_at, usage.energy_wh, periods=tuple(periods), timeline=usage.timeline)


@settings(max_examples=300, deadline=None)
@given(tariffs(restricted=False), usages(), plans, st.integers(1, 6 * 3600))
def test_splitting_a_session_never_changes_the_price_without_time_restrictions(
    tariff: Tariff,
    usage: Usage,
    plan,
    at_s: int,  # type: ignore[no-untyped-def]
) -> None:
    assert not tariff.has_time_restrictions
    whole, cut = price(tariff, usage, plan), price(tariff, split(usage, at_s), plan)
    assert (cut.total_excl_vat, cut.total_vat, cut.total_incl_vat) == (
        whole.total_excl_vat,
        whole.total_vat,
        whole.total_incl_vat,
    )
    assert [line.amount for line in cut.lines] == [line.amount for line in whole.lines]


@settings(max_examples=100, deadline=None)
@given(tariffs(), usages())
def test_pricing_is_deterministic(tariff: Tariff, usage: Usage) -> None:
    """Pricing depends on the tariff's content only: the version as stored (its JSON body, as billing keeps
    it) and read back prices every session exactly as the one that was given."""
    stored = Tariff.model_validate(tariff.model_dump(mode="json"))
    assert price(stored, usage) == price(tariff, usage)
