"""The pricing engine on hand-checked sessions: every expected amount is worked out in the comment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from voltline_billing.domain.adjustments import PlanDiscount
from voltline_billing.domain.pricing import price
from voltline_billing.domain.tariffs import (
    Dimension,
    PriceComponent,
    PriceLimit,
    Tariff,
    TariffElement,
    TariffRestrictions,
    simple_tariff,
)
from voltline_billing.domain.usage import Period, Reading, Usage

T0 = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # a Friday


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def energy(price: str, **restrictions: object) -> TariffElement:
    r = TariffRestrictions(**restrictions) if restrictions else None  # type: ignore[arg-type]
    return TariffElement(
        price_components=[PriceComponent(type=Dimension.ENERGY, price=D(price), vat=D(20))], restrictions=r
    )


def amounts(priced) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(line.dimension.value, str(line.billed_quantity), str(line.amount)) for line in priced.lines]


def test_energy_time_fee_and_vat() -> None:
    tariff = simple_tariff(
        "T", "EUR", D("0.35"), time_price_per_hour=D("1.50"), session_fee=D("0.99"), vat_percent=D(19)
    )
    usage = Usage(T0, at(75), 23_456)
    priced = price(tariff, usage)
    # 23.456 kWh x 0.35 = 8.2096 -> 8.21; 4500 s x 1.50/h = 1.875 -> 1.88; fee 0.99
    assert amounts(priced) == [("ENERGY", "23.456", "8.21"), ("TIME", "4500", "1.88"), ("FLAT", "1", "0.99")]
    assert priced.total_excl_vat == D("11.08")
    assert priced.total_vat == D("2.11")  # 11.08 x 19% = 2.1052
    assert priced.total_incl_vat == D("13.19")
    assert (priced.duration_s, priced.charging_s, priced.idle_s, priced.energy_wh) == (4500, 4500, 0, 23_456)


def test_time_of_day_change_mid_session_splits_the_energy_line() -> None:
    # Peak until 20:00 Berlin (= 19:00 UTC in November), off-peak after; 20 kWh spread evenly over 18:00-20:00 UTC.
    tariff = Tariff(
        tariff_id="TOD",
        currency="EUR",
        time_zone="Europe/Berlin",
        elements=[energy("0.40", start_time="08:00", end_time="20:00"), energy("0.20")],
    )
    priced = price(tariff, Usage(T0, at(120), 20_000))
    assert amounts(priced) == [("ENERGY", "10.000", "4.00"), ("ENERGY", "10.000", "2.00")]
    assert [line.element for line in priced.lines] == [0, 1]
    assert priced.lines[0].end == priced.lines[1].start == datetime(2026, 11, 20, 19, 0, tzinfo=UTC)


def test_time_of_day_split_follows_the_energy_timeline() -> None:
    tariff = Tariff(
        tariff_id="TOD", currency="EUR", elements=[energy("0.50", end_time="19:00"), energy("0.25", start_time="19:00")]
    )
    timeline = (Reading(at(30), 9_000), Reading(at(60), 9_000), Reading(at(90), 12_000))
    priced = price(tariff, Usage(T0, at(120), 15_000, timeline=timeline))
    # 9 kWh before 19:00 at 0.50; 6 kWh after at 0.25
    assert amounts(priced) == [("ENERGY", "9.000", "4.50"), ("ENERGY", "6.000", "1.50")]


def test_overnight_window_and_day_of_week() -> None:
    night = TariffElement(
        price_components=[PriceComponent(type=Dimension.TIME, price=D("1.00"))],
        restrictions=TariffRestrictions(start_time="22:00", end_time="06:00", day_of_week=["FRIDAY", "SATURDAY"]),
    )
    day = TariffElement(price_components=[PriceComponent(type=Dimension.TIME, price=D("3.00"))])
    tariff = Tariff(tariff_id="N", currency="EUR", elements=[night, day])
    start = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # Friday 21:00 to Saturday 01:00
    priced = price(tariff, Usage(start, start + timedelta(hours=4), 0))
    # 21-22 day rate (3.00), 22-24 Friday night (2 h x 1.00), 00-01 Saturday night (1.00): one run 22-01
    assert amounts(priced) == [("TIME", "3600", "3.00"), ("TIME", "10800", "3.00")]


def test_idle_fee_starts_when_charging_stops_but_the_car_stays_plugged_in() -> None:
    tariff = simple_tariff("I", "EUR", D("0.30"), idle_price_per_hour=D("12.00"))
    periods = (
        Period("charging", T0, at(40), 8_000),
        Period("suspended_ev", at(40), at(50), 0),
        Period("idle", at(50), at(65), 0),
    )
    priced = price(tariff, Usage(T0, at(65), 8_000, periods=periods))
    # 8 kWh x 0.30 = 2.40; idle only for the last 15 minutes: 0.25 h x 12.00 = 3.00
    assert amounts(priced) == [("ENERGY", "8.000", "2.40"), ("PARKING_TIME", "900", "3.00")]
    assert (priced.charging_s, priced.idle_s) == (3000, 900)


def test_step_size_rounds_the_last_time_dimension_only() -> None:
    components = [
        PriceComponent(type=Dimension.TIME, price=D("1.20"), step_size=300),
        PriceComponent(type=Dimension.PARKING_TIME, price=D("2.40"), step_size=900),
        PriceComponent(type=Dimension.ENERGY, price=D("0.25"), step_size=500),
    ]
    tariff = Tariff(tariff_id="S", currency="EUR", elements=[TariffElement(price_components=components)])
    periods = (Period("charging", T0, at(12), 1_234), Period("idle", at(12), at(20), 0))
    priced = price(tariff, Usage(T0, at(20), 1_234, periods=periods))
    # time 720 s not rounded (followed by parking); parking 480 s -> 900 s; energy 1234 Wh -> 1500 Wh
    assert amounts(priced) == [("ENERGY", "1.500", "0.38"), ("TIME", "720", "0.24"), ("PARKING_TIME", "900", "0.60")]
    assert str(priced.lines[0].quantity) == "1.234"


def test_kwh_and_duration_restrictions() -> None:
    tariff = Tariff(
        tariff_id="K",
        currency="EUR",
        elements=[
            energy("0.50", max_kwh=D(10)),
            energy("0.30"),
            TariffElement(
                price_components=[PriceComponent(type=Dimension.TIME, price=D("6.00"))],
                restrictions=TariffRestrictions(min_duration=3600),
            ),
        ],
    )
    priced = price(tariff, Usage(T0, at(90), 30_000))
    # first 10 kWh at 0.50 = 5.00, next 20 kWh at 0.30 = 6.00; time only after the first hour: 0.5 h x 6 = 3.00
    assert amounts(priced) == [("ENERGY", "10.000", "5.00"), ("ENERGY", "20.000", "6.00"), ("TIME", "1800", "3.00")]


def test_min_and_max_price_are_adjustment_lines() -> None:
    base = simple_tariff("M", "EUR", D("0.40"), vat_percent=D(10))
    cheap = base.model_copy(update={"min_price": PriceLimit(excl_vat=D("2.00"))})
    priced = price(cheap, Usage(T0, at(10), 1_000))
    assert [(line.kind, str(line.amount)) for line in priced.lines] == [("tariff", "0.40"), ("min_price", "1.60")]
    assert (priced.total_excl_vat, priced.total_vat) == (D("2.00"), D("0.20"))
    capped = base.model_copy(update={"max_price": PriceLimit(excl_vat=D("5.00"))})
    priced = price(capped, Usage(T0, at(100), 40_000))
    assert [(line.kind, str(line.amount)) for line in priced.lines] == [("tariff", "16.00"), ("max_price", "-11.00")]
    assert priced.total_incl_vat == D("5.50")


def test_plan_included_kwh_and_discounts() -> None:
    tariff = simple_tariff("P", "EUR", D("0.40"), session_fee=D("2.00"), vat_percent=D(20))
    plan = PlanDiscount(
        "GOLD", included_wh_remaining=5_000, energy_discount_percent=D(10), session_fee_discount_percent=D(50)
    )
    priced = price(tariff, Usage(T0, at(60), 12_000), plan)
    # energy 12 kWh = 4.80; 5 kWh included = -2.00; 10% off the remaining 2.80 = -0.28; fee 2.00, 50% off = -1.00
    assert [(line.kind, str(line.amount)) for line in priced.lines] == [
        ("tariff", "4.80"),
        ("plan_included_energy", "-2.00"),
        ("plan_discount", "-0.28"),
        ("tariff", "2.00"),
        ("plan_discount", "-1.00"),
    ]
    assert priced.total_excl_vat == D("3.52")
    assert priced.included_wh_used == 5_000


def test_missing_periods_mean_one_charging_period_and_zero_length_sessions_price() -> None:
    tariff = simple_tariff("Z", "JPY", D("50"), session_fee=D("100"), time_price_per_hour=D("300"))
    priced = price(tariff, Usage(T0, T0, 2_500))
    assert amounts(priced) == [("ENERGY", "2.500", "125"), ("FLAT", "1", "100")]
    assert priced.duration_s == 0


def test_ended_before_started_is_a_zero_length_session() -> None:
    tariff = simple_tariff("Z", "EUR", D("0.30"), time_price_per_hour=D("1"))
    priced = price(tariff, Usage(T0, T0 - timedelta(minutes=5), 1_000))
    assert priced.duration_s == 0 and priced.total_excl_vat == D("0.30")
