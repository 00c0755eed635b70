"""Subscription plans: a monthly fee, kWh included each calendar month, and discounts applied at pricing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from voltline_billing.domain.adjustments import PlanDiscount


@dataclass(frozen=True)
class Plan:
    plan_id: str
    name: str
    currency: str
    monthly_fee: Decimal
    included_kwh: Decimal
    energy_discount_percent: Decimal
    session_fee_discount_percent: Decimal
    vat_percent: Decimal | None

    @property
    def included_wh(self) -> int:
        return int(self.included_kwh * 1000)


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    driver_id: str
    plan_id: str
    started_at: datetime
    cancelled_at: datetime | None = None

    def active_at(self, at: datetime) -> bool:
        return self.started_at <= at and (self.cancelled_at is None or at < self.cancelled_at)

    def billed_months(self, period: str) -> bool:
        """The fee is due for every calendar month (UTC) in which the subscription was active at all."""
        first, after = month_bounds(period)
        return self.started_at < after and (self.cancelled_at is None or self.cancelled_at > first)


def month_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """`2026-11` -> [2026-11-01, 2026-12-01) in UTC; ValueError for anything else."""
    year, month = (int(part) for part in period.split("-", 1))
    if not 1 <= month <= 12 or len(period) != 7:
        raise ValueError(f"period must look like YYYY-MM, got {period!r}")
    first = datetime(year, month, 1, tzinfo=UTC)
    after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return first, after


def discount_for(plan: Plan, included_wh_used_this_month: int) -> PlanDiscount:
    return PlanDiscount(
        plan_id=plan.plan_id,
        included_wh_remaining=max(0, plan.included_wh - included_wh_used_this_month),
        energy_discount_percent=plan.energy_discount_percent,
        session_fee_discount_percent=plan.session_fee_discount_percent,
    )
