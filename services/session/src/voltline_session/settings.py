"""Session service settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from pydantic import Field
from voltline_chassis.settings import ServiceSettings


class SessionSettings(ServiceSettings):
    service_name: str = "session"
    http_port: int = Field(default=8002, ge=0, le=65535)
    database_url: str | None = Field(default="sqlite+aiosqlite:///./data/session.db", repr=False)
    session_update_interval_s: float = Field(
        default=60.0, ge=0, description="At most one session.updated per session per this many seconds."
    )
    session_suspect_after_s: float = Field(
        default=3600.0, gt=0, description="An active session whose station said nothing for this long is suspect."
    )
    session_suspect_check_interval_s: float = Field(default=30.0, gt=0, description="How often silence is checked.")
    session_end_grace_s: float = Field(
        default=600.0,
        ge=0,
        description="A 2.x end missing some of its transaction's messages waits this long for them before "
        "session.ended goes out.",
    )
    session_silent_after_s: float = Field(
        default=7200.0,
        gt=0,
        description="An active session whose transaction nothing was heard of for this long is checked with the "
        "station (GetTransactionStatus / TriggerMessage MeterValues).",
    )
    session_confirm_grace_s: float = Field(
        default=300.0,
        gt=0,
        description="A session in doubt (its station rebooted, or it was silent) that the station does not confirm "
        "within this is ended (StationRebooted / Unconfirmed).",
    )
    max_power_kw: float = Field(
        default=1000.0, gt=0, description="Fastest plausible charging; larger meter jumps are treated as bad data."
    )
    auth_timeout_s: float = Field(default=5.0, gt=0, description="How long a remote start waits for the auth service.")
    command_timeout_s: float = Field(
        default=15.0, gt=0, le=300, description="How long the gateway waits for the station to answer a command."
    )
    gateway_grace_s: float = Field(
        default=3.0, gt=0, description="Extra wait for the gateway's answer beyond command_timeout_s."
    )
    remote_start_link_window_s: float = Field(
        default=180.0, gt=0, description="1.6: a session starting this long after a remote start is linked to it."
    )
    inbox_retention_days: float = Field(default=14.0, gt=0, description="Deduplication markers are kept this long.")
    session_batch_max_s: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="A consumer batch commits once it has run this long. API reads do not wait for its write lock "
        "(read-only units of work), so it can be longer than other services' 0.2 s: on a loaded machine a "
        "short wall-clock budget cut batches to a few events, and the per-batch rules lost their point.",
    )
    consumer_batch_lanes: int = Field(
        default=0,
        ge=0,
        le=64,
        description="The partitions of one fetch of station events are spread over this many lanes, each one batch "
        "transaction (a partition whole and in order, so a station's events in order), which run concurrently: one "
        "lane handles its events while another waits for the database. 0: one batch per partition.",
    )
    consumer_pipeline_partitions: bool | None = Field(
        default=None,
        description="A partition of station events whose batch is done takes its next records at once, without "
        "waiting for the other partitions of its fetch (ADR 0031): the database works on one partition's batch while "
        "the process runs another's rules. False: each fetch waits for its slowest partition's batch. Unset: on for "
        "PostgreSQL, off for SQLite, whose one writer takes the batches in turn anyway (pipelining cost a few per cent "
        "of CPU per event there: bench/RESULTS.md, thirteenth round).",
    )
    # Charging from the drivers' app (docs/drivers.md)
    billing_url: str | None = Field(
        default=None,
        description="The billing service's API, asked whether a driver can pay before a start from the app; "
        "unset: no check (every driver with an app token may start).",
    )
    driver_stream_interval_s: float = Field(
        default=2.0, gt=0, le=60, description="How often the live stream of a driver's session sends a reading."
    )

    def pipelines_partitions(self) -> bool:
        """`consumer_pipeline_partitions`, or its default for the store: on for PostgreSQL, off for SQLite."""
        if self.consumer_pipeline_partitions is not None:
            return self.consumer_pipeline_partitions
        return not (self.database_url or "").startswith("sqlite")
