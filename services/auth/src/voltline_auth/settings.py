"""Auth service settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from voltline_chassis.settings import ServiceSettings

from voltline_auth.domain.stations import UnknownStationPolicy


class AuthSettings(ServiceSettings):
    service_name: str = "auth"
    http_port: int = Field(default=8001, ge=0, le=65535)
    database_url: str | None = Field(default="sqlite+aiosqlite:///./data/auth.db", repr=False)
    unknown_station_policy: UnknownStationPolicy = UnknownStationPolicy.REJECT
    heartbeat_interval_s: int = Field(default=300, ge=1)
    boot_retry_interval_s: int = Field(default=60, ge=1)
    id_token_type_match: Literal["value", "exact"] = Field(
        default="value",
        description="value: a token whose type differs from the registered one matches on its value when that "
        "names one holder unambiguously; exact: 2.x types must match (1.6 always matches on the value).",
    )
    presence_source: Literal["lifecycle", "station-events"] = Field(
        default="lifecycle",
        description="Where auth learns of connects, boots, disconnects and the gateways' local Authorize answers: "
        "lifecycle, the gateways' small copy of these events (ADR 0037); station-events, every station event (before "
        "ADR 0037: for gateways that publish no lifecycle copies yet, until every gateway is upgraded).",
    )
    # Decisions
    decision_cache_ttl_s: float = Field(default=5.0, ge=0, description="How stale another replica's change may be.")
    decision_log_retention_days: int = Field(default=30, ge=1, description="Also: how long a station may cache.")
    # Commands to stations and keeping stations in step
    command_timeout_s: float = Field(default=30.0, gt=0, le=300, description="How long a station may take to answer.")
    command_reply_fetch_wait_ms: int = Field(
        default=200,
        ge=1,
        le=500,
        description="How long the broker may hold a fetch of the replies to auth's station commands (the request "
        "consumer keeps VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS: a gateway waits on it). On Kafka a held fetch answers "
        "when a record arrives; the platform's 10 ms made the idle reply reader fetch 100 times a second.",
    )
    sync_poll_interval_s: float = Field(default=5.0, gt=0, description="How often pending station work is looked for.")
    sync_concurrency: int = Field(default=20, ge=1, description="Stations synced at once by one instance.")
    sync_lease_s: float = Field(default=300.0, gt=0, description="How long one sync may hold a station.")
    boot_sync_delay_s: float = Field(default=2.0, ge=0, description="Wait after an accepted boot before syncing.")
    # Topics other services own but auth may create first: keep the partition counts of their owners.
    # Drivers' accounts (docs/drivers.md)
    driver_access_ttl_s: int = Field(default=300, ge=30, le=3600, description="Lifetime of a driver's access token.")
    driver_refresh_ttl_days: int = Field(default=30, ge=1, le=365, description="Lifetime of a refresh token.")
    driver_max_failed_logins: int = Field(default=5, ge=1, description="Wrong passwords in a row before a lock.")
    driver_lockout_s: int = Field(default=900, ge=1, description="How long a locked account refuses sign-ins.")
    smtp_host: str | None = Field(
        default=None, description="SMTP relay for drivers' mail; unset: mail goes to the log."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_sender: str = "voltline <no-reply@localhost>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(default=None, repr=False)
    smtp_starttls: bool = True
