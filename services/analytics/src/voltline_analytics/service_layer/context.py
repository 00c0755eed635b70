"""What the analytics use cases need, built once in bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from voltline_analytics.domain.kpis import Co2Factors


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class AnalyticsContext:
    sessions: Callable[[], Any]  # the store's session factory (SQLAlchemy's async_sessionmaker), for the routes
    lateness: timedelta
    co2: Co2Factors
    default_currency: str
    ad_hoc_price_per_kwh: Decimal | None = None
    ad_hoc_currency: str = "EUR"
    clock: Callable[[], datetime] = utcnow
