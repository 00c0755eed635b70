"""Gateway settings (environment variables prefixed VOLTLINE_); every one is described in docs/gateway.md."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from voltline_chassis.settings import ServiceSettings

from voltline_gateway.domain.flow import DEFERRABLE
from voltline_gateway.domain.security import UnknownStations

AuthStatus = Literal["Accepted", "Blocked", "Expired", "Invalid", "Unknown", "NoCredit", "NotAtThisTime"]


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    http_port: int = Field(default=8000, ge=0, le=65535)
    # Listeners
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = Field(default=9000, ge=0, le=65535)
    ocpp_tls_port: int = Field(default=9443, ge=0, le=65535, description="wss:// listener (profiles 2 and 3).")
    tls_cert_file: Path | None = Field(default=None, description="Server certificate (PEM); TLS is off without it.")
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = Field(default=None, description="CA that signs station certificates (profile 3).")
    tls_second_cert_file: Path | None = Field(
        default=None, description="A second server certificate of the other key type (RSA beside ECDSA, or back)."
    )
    tls_second_key_file: Path | None = None
    tls_reload_interval_s: float = Field(default=30.0, gt=0, description="How often certificate files are checked.")
    # Station identity
    gateway_unknown_stations: UnknownStations = UnknownStations.ADMIT
    registry_grace_s: float = Field(default=2.0, ge=0, description="Wait this long for a just-registered station.")
    registry_catchup_timeout_s: float = Field(default=60.0, gt=0)
    handshake_timeout_s: float = Field(default=10.0, gt=0, description="The whole upgrade: headers in, verdict out.")
    failed_attempts_per_address: int = Field(default=30, ge=1, description="Failed upgrades from one IP per window.")
    failed_attempts_per_station: int = Field(default=10, ge=1, description="Wrong passwords for one station id.")
    failed_attempts_window_s: float = Field(default=60.0, gt=0, description="Window of the two limits above (429).")
    legacy_password_checks: int = Field(default=2, ge=1, description="bcrypt checks at once (legacy hashes only).")
    legacy_password_queue: int = Field(default=32, ge=1, description="Distinct bcrypt checks waiting; more: 503.")
    credential_refresh_interval_s: float = Field(
        default=1.0, gt=0, description="Ask auth about an unknown password at most this often per station."
    )
    refusal_log_per_second: float = Field(default=5.0, gt=0, description="Lines about refused connects per second.")
    # Decisions by the auth service, and their fallbacks
    auth_timeout_s: float = Field(default=5.0, gt=0, description="How long a decision waits for the auth service.")
    local_authorize: bool = Field(
        default=True, description="Answer Authorize from auth's published decisions when they cover the token."
    )
    tail_fetch_wait_ms: int = Field(
        default=100,
        ge=1,
        le=500,
        description="Longest fetch wait of the feeds read live (auth's decisions, station commands). Kafka answers "
        "a fetch as soon as a record arrives, tansu within about half the wait; each empty fetch wakes the gateway "
        "and the broker: three idle readers at 10 ms cost ~5% of a core (bench/RESULTS.md).",
    )
    boot_fallback_status: Literal["Pending", "Rejected"] = "Pending"
    boot_fallback_interval_s: int = Field(default=60, ge=1)
    authorize_fallback_status: AuthStatus = "Invalid"
    start_transaction_fallback_status: AuthStatus = "Invalid"
    transaction_event_fallback_status: AuthStatus = "Invalid"
    stop_transaction_fallback_status: AuthStatus | Literal["omit"] = "omit"
    data_transfer_vendors: list[str] = Field(default_factory=list)
    # Kafka
    event_linger_ms: int = Field(
        default=5,
        ge=0,
        le=100,
        description="How long a batch of station events waits before it is sent, so that the batches of every "
        "partition go out in one produce request: fewer requests for the gateway and the broker to handle, for up "
        "to this much later answers to calls answered once stored (never Authorize requests to auth).",
    )
    publish_timeout_s: float = Field(default=10.0, gt=0, description="Longest wait for Kafka before InternalError.")
    presence_interval_s: float = Field(
        default=1.0, gt=0, description="Liveness beat; an instance silent for 3 beats is dead (its stations offline)."
    )
    spool_dir: Path | None = Field(
        default=None,
        description="Keep acknowledged station events here, to send again to a broker that lost them (make run).",
    )
    spool_keep_s: float = Field(default=900.0, gt=0, description="How long the spool keeps an event (consumer lag).")
    broker_watch_interval_s: float = Field(default=1.0, gt=0, description="How often to check the broker's id.")
    accept_backlog: int = Field(
        default=4096, ge=1, description="Connections the kernel queues until accepted (capped by net.core.somaxconn)."
    )
    # Frames and liveness
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ping_interval_s: float = Field(default=60.0, gt=0)
    ping_timeout_s: float = Field(default=30.0, gt=0)
    close_timeout_s: float = Field(default=5.0, gt=0, description="Wait for a closing peer's close frame.")
    frames_per_second: float = Field(default=50.0, gt=0, description="Sustained frames per station per second.")
    frame_burst: float = Field(default=500.0, ge=1)
    flood_close_after: int = Field(default=200, ge=1, description="Refused frames in a row before closing (1008).")
    gc_thresholds: tuple[int, int, int] = Field(
        # A young collection walks every live young object: at 2,000 msg/s the messages in flight, ~25,000
        # objects, 5-28 ms of CPU each, and every 20th an older one of ~80 ms: at 20,000 one every ~2 s stalled
        # the loop and every answer behind it (bench/RESULTS.md, Pipeline benchmark, twelfth round).
        default=(100_000, 20, 20),
        description="Python GC thresholds; CPython's (700, 10, 10) cost a third of the throughput under load.",
    )
    # Flow control (ADR 0027): hold answers to deferrable calls while consumers of station events lag
    flow_control: bool = Field(default=False, description="Hold deferrable answers while consumers lag (make run: on).")
    flow_lag_high: int = Field(default=1000, ge=0, description="Records a consumer group may lag before holds grow.")
    flow_lag_low: int = Field(default=200, ge=0, description="Below this largest lag, holds shrink back to none.")
    flow_max_hold_s: float = Field(default=10.0, gt=0, description="Longest hold; keep it below stations' timeout.")
    flow_poll_interval_s: float = Field(default=0.5, gt=0, description="How often the consumers' lag is read.")
    flow_stall_s: float = Field(default=30.0, gt=0, description="A lagging group that commits nothing this long: out.")
    flow_ignored_groups: list[str] = Field(
        default_factory=list, description="Consumer groups (without the topic prefix) that never hold stations."
    )
    flow_deferrable_actions: list[str] = Field(
        default_factory=lambda: sorted(DEFERRABLE), description="Calls whose answers may be held."
    )
    quirks: dict[str, list[str]] = Field(
        default_factory=dict, description='Leniency per "vendor/model" glob, e.g. {"ACME/*": ["naive_timestamps"]}.'
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("VOLTLINE_TLS_CERT_FILE and VOLTLINE_TLS_KEY_FILE go together")
        if (self.tls_second_cert_file is None) != (self.tls_second_key_file is None):
            raise ValueError("VOLTLINE_TLS_SECOND_CERT_FILE and VOLTLINE_TLS_SECOND_KEY_FILE go together")
        if self.flow_lag_low > self.flow_lag_high:
            raise ValueError("VOLTLINE_FLOW_LAG_LOW must not exceed VOLTLINE_FLOW_LAG_HIGH")
        return self
