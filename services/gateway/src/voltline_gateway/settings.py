"""Gateway settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from voltline_chassis.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    http_port: int = Field(default=8000, ge=0, le=65535)
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = Field(default=9000, ge=0, le=65535)
    auth_timeout_s: float = Field(default=5.0, gt=0, description="How long a boot waits for the auth service.")
    boot_fallback_status: Literal["Pending", "Rejected"] = "Pending"
    boot_fallback_interval_s: int = Field(default=60, ge=1)
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ping_interval_s: float = Field(default=60.0, gt=0)
    station_events_partitions: int = Field(default=6, ge=1, description="Partitions of the station events topic.")
