"""Diagnostics service settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from pydantic import Field
from voltline_chassis.settings import ServiceSettings

from voltline_diagnostics.maintenance_settings import MaintenanceSettings


class DiagnosticsSettings(ServiceSettings, MaintenanceSettings):
    service_name: str = "diagnostics"
    http_port: int = Field(default=8004, ge=0, le=65535)
    database_url: str | None = Field(default="sqlite+aiosqlite:///./data/diagnostics.db", repr=False)
