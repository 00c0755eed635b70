"""The pricing engine: a pure function from (tariff, session usage, plan) to a priced session.

1. Cut the session at every instant where its state, its energy curve or any restriction can change.
2. In each piece, per dimension, the first element (in tariff order) that has a component of that
   dimension and whose restrictions match prices it (OCPI 2.2.1). FLAT is charged once, by the first
   piece that has a matching FLAT component.
3. Consecutive pieces priced by the same element form one line, so a line is "this component over
   this period" and a time-of-day change mid-session starts a new line. Cutting a session at an
   instant where nothing changes never adds a line.
4. Quantities become whole Wh and seconds by cumulative rounding (lines add up to the measured total);
   OCPI step_size then rounds the dimension's total up, the extra going to its last line (for time, only
   the dimension of the last time-based line is rounded, as OCPI 2.2.1 specifies).
5. Each line's amount = unit price x billed quantity, rounded half-up to the minor unit.
6. Plan discounts, then min/max price, then VAT per rate (see adjustments.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from voltline_billing.domain.adjustments import PlanDiscount, apply_limits, apply_plan, totals
from voltline_billing.domain.money import ceil_to_step, round_half_up, round_money
from voltline_billing.domain.priced import Line, PricedSession
from voltline_billing.domain.restrictions import Moment, breakpoints, matches
from voltline_billing.domain.tariffs import Dimension, PriceComponent, Tariff
from voltline_billing.domain.usage import IDLE_STATE, TIME_STATES, Timeline, Usage

_DIVISOR = {Dimension.ENERGY: 1000, Dimension.TIME: 3600, Dimension.PARKING_TIME: 3600, Dimension.FLAT: 1}
_LABEL = {
    Dimension.ENERGY: "Energy",
    Dimension.TIME: "Charging time",
    Dimension.PARKING_TIME: "Idle time (plugged in, not charging)",
    Dimension.FLAT: "Session fee",
}
_METERED = (Dimension.ENERGY, Dimension.TIME, Dimension.PARKING_TIME)


@dataclass
class _Run:
    dimension: Dimension
    element: int
    component: PriceComponent
    start: Fraction
    end: Fraction
    measured: Fraction  # exact Wh or seconds
    quantity: int = 0
    billed: int = 0


def price(tariff: Tariff, usage: Usage, plan: PlanDiscount | None = None) -> PricedSession:
    tl = Timeline.of(usage)
    runs, flat = _runs(tariff, tl)
    _to_whole_units(runs)
    _apply_step_sizes(runs)
    lines = [_line(tariff, tl, run) for run in runs if run.billed or run.quantity]
    if flat is not None:
        element, component, at = flat
        when = tl.at(at)
        amount = round_money(Fraction(component.price), tariff.currency)
        lines.append(
            Line(
                "tariff", Dimension.FLAT, element, when, when, Decimal(1), Decimal(1), component.price, amount,
                component.vat, tariff.currency, _LABEL[Dimension.FLAT],
            )
        )  # fmt: skip
    lines.sort(key=lambda line: (line.start, _METERED.index(line.dimension) if line.dimension in _METERED else 3))
    lines, included_used = apply_plan(lines, plan, tariff.currency)
    lines = apply_limits(lines, tariff, tl.at(Fraction(0)), tl.at(tl.total_s))
    vat, excl, total_vat = totals(lines, tariff.currency)
    charging = sum((b - a for a, b, s in tl.states if s in TIME_STATES), Fraction(0))
    idle = sum((b - a for a, b, s in tl.states if s == IDLE_STATE), Fraction(0))
    return PricedSession(
        tariff_id=tariff.tariff_id,
        tariff_version=tariff.version,
        currency=tariff.currency,
        lines=tuple(lines),
        vat=vat,
        total_excl_vat=excl,
        total_vat=total_vat,
        total_incl_vat=excl + total_vat,
        energy_wh=tl.energy_wh,
        duration_s=int(round_half_up(tl.total_s)),
        charging_s=int(round_half_up(charging)),
        idle_s=int(round_half_up(idle)),
        included_wh_used=included_used,
    )


def _first(tariff: Tariff, dimension: Dimension, moment: Moment) -> tuple[int, PriceComponent] | None:
    for index, element in enumerate(tariff.elements):
        component = next((c for c in element.price_components if c.type is dimension), None)
        if component is not None and matches(element.restrictions, moment):
            return index, component
    return None


def _runs(tariff: Tariff, tl: Timeline) -> tuple[list[_Run], tuple[int, PriceComponent, Fraction] | None]:
    cuts = sorted({Fraction(0), tl.total_s} | tl.cuts() | breakpoints(tariff, tl))
    pieces = list(itertools.pairwise(cuts)) or [(Fraction(0), Fraction(0))]
    tz = tariff.tz
    runs: list[_Run] = []
    last: dict[Dimension, _Run] = {}
    flat: tuple[int, PriceComponent, Fraction] | None = None
    for a, b in pieces:
        mid = (a + b) / 2
        energy = tl.energy_at(b) - tl.energy_at(a) if b > a else Fraction(tl.energy_wh)
        power_kw = energy / (b - a) * Fraction(18, 5) if b > a else Fraction(0)  # Wh/s -> kW
        moment = Moment(tl.at(mid).astimezone(tz), mid, tl.energy_at(mid) / 1000, power_kw)
        state = tl.state_at(mid)
        measured = {
            Dimension.ENERGY: energy,
            Dimension.TIME: (b - a) if state in TIME_STATES else None,
            Dimension.PARKING_TIME: (b - a) if state == IDLE_STATE else None,
        }
        for dimension, quantity in measured.items():
            found = _first(tariff, dimension, moment) if quantity is not None else None
            if found is None or quantity is None:
                continue
            element, component = found
            run = last.get(dimension)
            if run is not None and run.element == element and run.end == a:
                run.end, run.measured = b, run.measured + quantity
            else:
                run = _Run(dimension, element, component, a, b, quantity)
                runs.append(run)
                last[dimension] = run
        if flat is None:
            found = _first(tariff, Dimension.FLAT, moment)
            if found is not None:
                flat = (*found, a)
    return runs, flat


def _to_whole_units(runs: list[_Run]) -> None:
    """Whole Wh / seconds per line by cumulative rounding: lines always add up to the rounded total."""
    for dimension in _METERED:
        cumulative = Fraction(0)
        for run in (r for r in runs if r.dimension is dimension):
            before = round_half_up(cumulative)
            cumulative += run.measured
            run.quantity = int(round_half_up(cumulative) - before)
            run.billed = run.quantity


def _apply_step_sizes(runs: list[_Run]) -> None:
    energy = [r for r in runs if r.dimension is Dimension.ENERGY]
    timed = [r for r in runs if r.dimension is not Dimension.ENERGY]
    targets = [energy]
    if timed:
        last = max(timed, key=lambda r: (r.end, r.dimension is Dimension.PARKING_TIME))
        targets.append([r for r in timed if r.dimension is last.dimension])
    for group in targets:
        if not group:
            continue
        total = sum(r.quantity for r in group)
        group[-1].billed += ceil_to_step(total, group[-1].component.step_size) - total


def _line(tariff: Tariff, tl: Timeline, run: _Run) -> Line:
    divisor = _DIVISOR[run.dimension]
    scale = -3 if run.dimension is Dimension.ENERGY else 0
    amount = round_money(Fraction(run.component.price) * run.billed / divisor, tariff.currency)
    return Line(
        kind="tariff",
        dimension=run.dimension,
        element=run.element,
        start=tl.at(run.start),
        end=tl.at(run.end),
        quantity=Decimal(run.quantity).scaleb(scale),
        billed_quantity=Decimal(run.billed).scaleb(scale),
        unit_price=run.component.price,
        amount=amount,
        vat_percent=run.component.vat,
        currency=tariff.currency,
        description=_LABEL[run.dimension],
    )
