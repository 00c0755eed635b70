"""Prometheus metrics of the analytics worker: throughput, lateness and lag."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPLIED = Counter("voltline_analytics_events_applied_total", "Events applied to the analytics store.")
EVENTS_SKIPPED = Counter("voltline_analytics_events_skipped_total", "Events read that change no KPI.")
LATE_EVENTS = Counter(
    "voltline_analytics_late_events_total", "Events later than the allowed lateness: kept in late_events, not counted."
)
BATCH_SIZE = Histogram(
    "voltline_analytics_batch_size", "Events applied per store transaction.", buckets=(1, 2, 5, 10, 50, 100, 500, 5000)
)
BATCH_DURATION = Histogram("voltline_analytics_batch_duration_seconds", "Time to apply one batch (one transaction).")
EVENT_TIME_LAG = Gauge(
    "voltline_analytics_event_time_lag_seconds",
    "Now minus the newest charger timestamp applied: how far behind the figures are (grows when idle).",
)
EVENTS_DEAD_LETTERED = Counter(
    "voltline_analytics_events_dead_lettered_total", "Events that could not be applied, parked on <topic>.dlq."
)
