"""Diagnostics service settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from voltline_chassis.settings import ServiceSettings

from voltline_diagnostics.domain.alerts import configure
from voltline_diagnostics.maintenance_settings import MaintenanceSettings


class DiagnosticsSettings(ServiceSettings, MaintenanceSettings):
    service_name: str = "diagnostics"
    http_port: int = Field(default=8004, ge=0, le=65535)
    # Station log uploads and firmware files stream to disk under their own size limits (upload_max_bytes).
    http_streaming_paths: list[str] = Field(default_factory=lambda: ["/uploads/", "/api/v1/firmware/"])
    database_url: str | None = Field(default="sqlite+aiosqlite:///./data/diagnostics.db", repr=False)
    heartbeat_interval_s: int = Field(
        default=300, gt=0, description="The heartbeat interval stations are given (as the auth service's setting)."
    )
    unresponsive_factor: float = Field(default=2.0, gt=0, description="Silent for factor x heartbeat: unresponsive.")
    unresponsive_min_s: float = Field(default=120.0, gt=0, description="... but never sooner than this.")
    alert_rules: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per-rule overrides as JSON, e.g. {"station_offline": {"after_s": 600, "severity": "critical"}}.',
    )
    locations_rate_per_min: float = Field(
        default=60, gt=0, description="Public location searches a minute per client address (then 429)."
    )
    locations_burst: int = Field(default=20, ge=1, description="... with bursts of this many.")
    monitor_interval_s: float = Field(default=5.0, gt=0, description="How often offline/silent stations are checked.")
    monitor_sweep_s: float = Field(
        default=60.0,
        gt=0,
        description="How often the monitor reads every silent station (between sweeps: only those heard here).",
    )
    webhook_attempts: int = Field(default=8, ge=1, description="Attempts per webhook delivery before it is failed.")
    webhook_backoff_initial_s: float = Field(default=2.0, gt=0, description="First retry delay; doubles per attempt.")
    webhook_backoff_max_s: float = Field(default=600.0, gt=0, description="Longest retry delay.")
    webhook_timeout_s: float = Field(default=5.0, gt=0, description="How long a receiver has to answer.")
    webhook_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="How often due deliveries are looked for when nothing woke the worker (a delivery queued or a "
        "retry scheduled by this instance wakes it at once): those queued by another instance wait up to this.",
    )
    inventory_on_first_boot: bool = Field(
        default=True,
        description="Ask for the device model (2.x GetBaseReport) or configuration (1.6) after a first boot.",
    )
    inventory_delay_s: float = Field(default=5.0, ge=0, description="... this long after the boot (answered first).")
    command_timeout_s: float = Field(default=30.0, gt=0, le=300, description="How long a station has to answer.")
    outbox_batch_size: int = Field(
        default=1000,
        ge=1,
        le=5000,
        description="Outbox rows per relay round: every status change is an event, and a round waits for the "
        "broker's acknowledgements (100 rows a round capped the stream of changes at a few hundred a second).",
    )
    consumer_batch_max_s: float = Field(
        default=1.0,
        gt=0,
        le=5,
        description="A consumer batch commits once it has run this long. Each batch has a fixed cost (inbox markers, "
        "reading its stations, the bulk writes, the commit), and a batch cut short has inserted the markers and read "
        "(locked) the stations of up to twice what it handled, which the next batch does again: with a fetch's "
        "partitions in two lanes a starved process cut most batches at 0.5 s. Status reads never wait for a batch "
        "(MVCC; SQLite's readers in WAL mode); the monitor's writes to a station do, at most this long.",
    )

    consumer_fetch_wait_ms: int = Field(
        default=100,
        ge=0,
        le=1000,
        description="How long the broker may hold a fetch of station events to fill it (0: answer at once). With "
        "consumer_batch_lanes a fetch is one batch transaction per lane (~5 ms of fixed CPU): at 5,000 events/s "
        "100 ms makes batches of ~500. Adaptive by itself: the next fetch runs while a batch is handled, and a fetch "
        "of 512 KiB (~1,500 status events, a backlog) is answered at once, so the wait only holds a thin stream, "
        "where it is latency (250 ms, for per-partition batches, made p50 260 ms at 1,000/s).",
    )
    consumer_batch_lanes: int = Field(
        default=2,
        ge=0,
        le=64,
        description="The partitions of one fetch are spread over this many lanes, each one batch transaction (each "
        "partition in order, so a station's events in order), which run concurrently: a batch's fixed cost (~5 ms "
        "of CPU, a dozen round trips, a commit) is paid twice per fetch instead of once per partition (six), and "
        "one lane handles its events while the other waits for the database. 0: one batch per partition.",
    )
    consumer_pipeline_partitions: bool = Field(
        default=False,
        description="With consumer_batch_lanes, a lane whose batch is done takes the next records of the partitions "
        "the other lane does not hold, without waiting for it (ADR 0031). Off for now: its gain is small so far (a "
        "bench run that reordered events had imported a modified copy of the loop; bench/RESULTS.md, w7-pipefix).",
    )
    outbox_wake_linger_s: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="The outbox relay is woken this long after a status batch's commit, once for every commit in "
        "that time (0: at each commit): one relay round, whose fixed cost is milliseconds of the process's CPU and "
        "a scan of the outbox in the server, publishes what the commits of that moment added.",
    )
    last_seen_flush_s: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="A station event that would change nothing but the station's last seen time (a heartbeat, meter "
        "values, a transaction update, a repeated StatusNotification) is answered from what its last batch committed, "
        "without a transaction; the newest time of each station is written this often (and at stop). last_seen_at "
        "is then up to this much behind; health, alerts, history and the stream are not. 0: every event in a batch.",
    )
    last_seen_trust_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long what a batch committed about a station answers its quiet events; then the next goes "
        "through a batch again (which sees what another instance changed, after a rebalance).",
    )

    @field_validator("alert_rules")
    @classmethod
    def _known_rules(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        configure(value)  # refuses unknown rules and fields by name
        return value
