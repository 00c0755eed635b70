"""What happens after the tariff priced the lines: subscription plan discounts, the tariff's min/max
price, and VAT. Every adjustment is a line of its own, so the total is always the sum of the lines and
every cent can be explained.

Order: plan discounts first (they change what the driver's energy and session fee cost), then the
tariff's min/max price on the discounted total, then VAT: per VAT rate, on the sum of the lines at that
rate, rounded half-up once per rate (lines with no VAT rate carry none).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from voltline_billing.domain.money import round_money
from voltline_billing.domain.priced import Line, LineKind, VatAmount
from voltline_billing.domain.tariffs import Dimension, Tariff


@dataclass(frozen=True, slots=True)
class PlanDiscount:
    """A subscription's effect on one session: free kWh left this month and percentage discounts."""

    plan_id: str
    included_wh_remaining: int = 0
    energy_discount_percent: Decimal = Decimal(0)
    session_fee_discount_percent: Decimal = Decimal(0)


def apply_plan(lines: list[Line], plan: PlanDiscount | None, currency: str) -> tuple[list[Line], int]:
    if plan is None:
        return lines, 0
    out: list[Line] = []
    remaining = max(0, plan.included_wh_remaining)
    used = 0
    for line in lines:
        out.append(line)
        if line.kind != "tariff":
            continue
        if line.dimension is Dimension.ENERGY:
            billed_wh = int(line.billed_quantity.scaleb(3))
            cover = min(remaining, billed_wh)
            remaining, used = remaining - cover, used + cover
            included = Decimal(0)
            if cover:
                included = -round_money(Fraction(line.unit_price) * cover / 1000, currency)
                kwh = Decimal(cover).scaleb(-3)
                out.append(_derived(line, "plan_included_energy", included, kwh, f"Included in plan {plan.plan_id}"))
            _percent(out, line, line.amount + included, plan.energy_discount_percent, plan.plan_id, currency)
        elif line.dimension is Dimension.FLAT:
            _percent(out, line, line.amount, plan.session_fee_discount_percent, plan.plan_id, currency)
    return out, used


def _percent(out: list[Line], base: Line, payable: Decimal, pct: Decimal, plan_id: str, currency: str) -> None:
    if pct <= 0 or payable <= 0:
        return
    amount = -round_money(Fraction(payable) * Fraction(min(pct, Decimal(100))) / 100, currency)
    if amount:
        out.append(_derived(base, "plan_discount", amount, base.billed_quantity, f"Plan {plan_id}: {pct}% off"))


def _derived(base: Line, kind: LineKind, amount: Decimal, quantity: Decimal, description: str) -> Line:
    return replace(base, kind=kind, amount=amount, quantity=quantity, billed_quantity=quantity, description=description)


def apply_limits(lines: list[Line], tariff: Tariff, start: datetime, end: datetime) -> list[Line]:
    """OCPI min_price / max_price (excluding VAT) as adjustment lines."""
    currency = tariff.currency
    total = sum((line.amount for line in lines), Decimal(0))
    if tariff.min_price is not None:
        floor = round_money(tariff.min_price.excl_vat, currency)
        if total < floor:
            return [*lines, _limit("min_price", floor - total, tariff.vat_percent, currency, start, end)]
    if tariff.max_price is not None:
        ceiling = round_money(tariff.max_price.excl_vat, currency)
        if total > ceiling:
            return lines + _split_excess(lines, total - ceiling, currency, start, end)
    return lines


def _limit(kind: LineKind, amount: Decimal, vat: Decimal | None, currency: str, start: datetime, end: datetime) -> Line:
    label = "Minimum session price" if kind == "min_price" else "Maximum session price"
    one = Decimal(1)
    return Line(kind, Dimension.FLAT, None, start, end, one, one, Decimal(0), amount, vat, currency, label)


def _split_excess(lines: list[Line], excess: Decimal, currency: str, start: datetime, end: datetime) -> list[Line]:
    """A max-price cut is shared between VAT rates in proportion, so no rate's taxable amount goes negative."""
    groups: dict[Decimal | None, Decimal] = {}
    for line in lines:
        groups[line.vat_percent] = groups.get(line.vat_percent, Decimal(0)) + line.amount
    positive = {rate: amount for rate, amount in groups.items() if amount > 0}
    total = sum(positive.values(), Decimal(0))
    biggest = max(positive, key=lambda rate: positive[rate])
    shares = {
        rate: round_money(Fraction(excess) * Fraction(amount) / Fraction(total), currency)
        for rate, amount in positive.items()
        if rate != biggest
    }
    shares[biggest] = excess - sum(shares.values(), Decimal(0))
    return [_limit("max_price", -share, rate, currency, start, end) for rate, share in shares.items() if share]


def totals(lines: list[Line], currency: str) -> tuple[tuple[VatAmount, ...], Decimal, Decimal]:
    """(VAT per rate, total excluding VAT, total VAT)."""
    taxable: dict[Decimal, Decimal] = {}
    for line in lines:
        if line.vat_percent is not None:
            taxable[line.vat_percent] = taxable.get(line.vat_percent, Decimal(0)) + line.amount
    vat = tuple(
        VatAmount(rate, amount, round_money(Fraction(amount) * Fraction(rate) / 100, currency))
        for rate, amount in sorted(taxable.items())
    )
    excl = sum((line.amount for line in lines), Decimal(0))
    return vat, excl, sum((v.vat for v in vat), Decimal(0))
