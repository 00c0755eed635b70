"""Configuration shared by every voltline service.

Services subclass :class:`ServiceSettings`, give ``service_name``/``http_port`` (and usually
``database_url``) a default, and add their own fields. Everything is read from ``VOLTLINE_*``
environment variables so one deployment manifest style works for all six services.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voltline_chassis.logging import scrub_secrets

_LOG_LEVELS = frozenset({"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"})


def default_instance_id() -> str:
    """Identify this process in logs, metrics and consumer-group member ids."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ServiceSettings(BaseSettings):
    """Base settings; subclasses inherit the ``VOLTLINE_`` env prefix."""

    model_config = SettingsConfigDict(env_prefix="VOLTLINE_", extra="ignore", validate_default=True)

    service_name: str
    instance_id: str = Field(default_factory=default_instance_id)
    kafka_bootstrap: str = "127.0.0.1:9092"
    # The embedded tansu broker does not implement idempotent producers, so dev/test turns this off.
    kafka_idempotence: bool = True
    # Consumer-group session timeout; `make run` lowers it because tansu delays a group's first join by half.
    kafka_session_timeout_ms: int = Field(default=10_000, ge=500)
    # Consumer-group static membership under this instance id (set a stable VOLTLINE_INSTANCE_ID with it).
    kafka_static_membership: bool = False
    # How long the producer holds a batch open for more messages: every publish (a reply someone waits
    # for, too) waits it out. With 0, messages queued while a batch is on its way still share the next one.
    kafka_linger_ms: int = Field(default=0, ge=0, le=1000)
    # Longest fetch wait of the readers a caller waits on (requests, replies); see BusConfig.
    kafka_request_fetch_wait_ms: int = Field(default=10, ge=1, le=500)
    # Added to this process's nice value at start: on a machine shared by every service (`make run`), the bulk
    # consumers (session, billing, diagnostics, analytics) give way to the request path (gateway, auth), so an
    # Authorize is not answered after a backlog of MeterValues. 0: unchanged.
    process_nice: int = Field(default=0, ge=0, le=19)
    # The event loop uvicorn runs the service on. asyncio's own by default: uvloop made the gateway slower (1.24
    # against 0.82 ms of CPU per boot in the reconnect storm); a service whose work is asyncpg's (session) may
    # choose uvloop, which asyncpg is built for.
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    topic_prefix: str = ""
    # Python GC thresholds set once the service has started, after freezing what start-up created
    # (voltline_chassis.gctune); CPython's (700, 10, 10) cost a consumer 30-40% of its CPU per event.
    gc_thresholds: tuple[int, int, int] = (100_000, 20, 20)
    # Most records one fetch hands a consumer: the batch its events are handled in (one transaction).
    consumer_batch_size: int = Field(default=2000, ge=1, le=5000)
    # Every watched consumer also commits as soon as it has caught up (EventConsumer's `commit_caught_up`), not up to
    # a second later: bench.pipeline ingest reads the drain's end from the group's committed offsets.
    consumer_commit_caught_up: bool = False
    # A broker that restarts empty (the embedded tansu; see voltline_bus.watch) is noticed by its new cluster
    # id; the outbox rows published in the last `broker_replay_window_s` are then sent again.
    broker_watch_interval_s: float = Field(default=1.0, gt=0)
    broker_replay_window_s: float = Field(default=900.0, ge=0)
    # A reset (recreate topics, republish, refollow) that takes longer is cancelled and run again from the start.
    broker_reset_timeout_s: float = Field(default=60.0, gt=0)
    # Outbox rows the relay publishes per round (all in flight at once, then one update marks them).
    outbox_batch_size: int = Field(default=100, ge=1, le=5000)
    # Broker authentication: each service its own user, with ACLs for only its topics (docs/security.md).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = Field(default=None, description="Read the password from this file.")
    kafka_ssl_cafile: str | None = None
    # Plain str because drivers need it; its password is masked in repr() and in log lines.
    database_url: str | None = None
    # PostgreSQL connections the pool keeps, opened at start before the consumers join (voltline_store.warm_pool):
    # at least the batches a service's consumers run at once plus the outbox relay, or the rest are opened (and
    # closed again) while a backlog drains.
    database_pool_size: int = Field(default=5, ge=1, le=100)
    http_host: str = "127.0.0.1"
    http_port: int = Field(ge=0, le=65535)
    admin_token: SecretStr | None = None
    # Operator API limits (voltline_chassis.http_limits): slow or huge requests cannot hold the service.
    http_request_timeout_s: float = Field(default=15.0, gt=0, description="Headers and body of a request, in s.")
    http_max_connections: int = Field(default=1000, ge=1, description="Open connections and requests; more: 503.")
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies get 413.")
    # Path prefixes whose routes stream large bodies and limit them themselves (uploads): no body limit or
    # read deadline once their headers are in.
    http_streaming_paths: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("log_level")
    @classmethod
    def _normalise_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {sorted(_LOG_LEVELS)}, got {value!r}")
        return level

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Settings end up in reprs, tracebacks and startup logs; DSNs must not carry passwords there.
        for name, value in super().__repr_args__():
            yield name, scrub_secrets(value) if isinstance(value, str) else value
