"""Analytics service settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from pydantic import Field
from voltline_chassis.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    service_name: str = "analytics"
    http_port: int = Field(default=8005, ge=0, le=65535)
    database_url: str | None = Field(default="sqlite+aiosqlite:///./data/analytics.db", repr=False)
