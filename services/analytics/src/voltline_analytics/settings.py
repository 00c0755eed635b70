"""Analytics service settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field
from voltline_chassis.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    service_name: str = "analytics"
    http_port: int = Field(default=8005, ge=0, le=65535)
    database_url: str | None = Field(default="sqlite+aiosqlite:///./data/analytics.db", repr=False)
    # Events whose charger timestamp is older than the newest one of their station and stream by more than
    # this are kept in late_events but not counted: buckets older than that are final.
    # batch: a plain aiokafka batch consumer, one fetch of up to analytics_batch_max events per transaction
    # (ADR 0017); faust: the faust-streaming agent (ADR 0009); bus: voltline_bus's EventConsumer (same store
    # logic, smaller batches).
    analytics_worker: Literal["batch", "faust", "bus"] = "batch"
    analytics_batch_max: int = Field(default=5000, ge=1, le=100_000)
    # faust keeps no state of ours (memory store); its scratch directory, a fresh temporary one by default.
    analytics_faust_datadir: Path | None = None
    # The worker's consumer group (prefixed by the topic prefix); a new group replays the whole log.
    analytics_consumer_group: str = "voltline-analytics"
    analytics_allowed_lateness_days: float = Field(default=7, gt=0)
    analytics_default_currency: str = Field(default="EUR", min_length=3, max_length=3)
    # CO2 avoided per kWh = petrol car's g/km / EV's kWh/km - grid g/kWh (docs/analytics.md).
    analytics_co2_ice_g_per_km: Decimal = Field(default=Decimal(170), ge=0)
    analytics_co2_ev_kwh_per_km: Decimal = Field(default=Decimal("0.18"), gt=0)
    analytics_co2_grid_g_per_kwh: Decimal = Field(default=Decimal(250), ge=0)
    # AFIR ad-hoc price shown in the EVSE status feed (None: not published).
    analytics_ad_hoc_price_per_kwh: Decimal | None = Field(default=None, ge=0)
    analytics_ad_hoc_currency: str = Field(default="EUR", min_length=3, max_length=3)
