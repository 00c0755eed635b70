"""Prometheus metrics of the outbox, created once at import (a second registration would raise)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PENDING = Gauge("voltline_outbox_pending_rows", "Outbox rows not yet published to the bus.", ["relay"])
RELAY_PUBLISHED = Counter(
    "voltline_outbox_relay_published_total", "Outbox rows the relay published and marked.", ["relay"]
)
RELAY_ERRORS = Counter(
    "voltline_outbox_relay_errors_total", "Failed relay batches (bus or database unavailable).", ["relay"]
)
RELAY_LAG = Histogram(
    "voltline_outbox_relay_lag_seconds",
    "Time from an event's commit to the outbox until the bus acknowledged it.",
    ["relay"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
BATCH_COMMIT_LATENCY = Histogram(
    "voltline_store_batch_commit_seconds",
    "Commit of one consumed batch's transaction (hooks excluded).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
