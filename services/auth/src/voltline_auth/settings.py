"""Auth service settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from pydantic import Field
from voltline_chassis.settings import ServiceSettings

from voltline_auth.domain.stations import UnknownStationPolicy


class AuthSettings(ServiceSettings):
    service_name: str = "auth"
    http_port: int = Field(default=8001, ge=0, le=65535)
    database_url: str | None = Field(default="sqlite+aiosqlite:///./data/auth.db", repr=False)
    unknown_station_policy: UnknownStationPolicy = UnknownStationPolicy.REJECT
    heartbeat_interval_s: int = Field(default=300, ge=1)
    boot_retry_interval_s: int = Field(default=60, ge=1)
