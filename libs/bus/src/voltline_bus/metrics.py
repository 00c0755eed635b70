"""Prometheus metrics of the bus, registered once on the default registry at import."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

PUBLISH_LATENCY = Histogram(
    "voltline_bus_publish_duration_seconds",
    "Time from publish() to the broker's acknowledgement (acks=all).",
    ("topic",),
    buckets=_LATENCY_BUCKETS,
)
PUBLISH_FAILURES = Counter(
    "voltline_bus_publish_failures_total", "Messages the broker did not acknowledge.", ("topic",)
)
MESSAGES_CONSUMED = Counter(
    "voltline_bus_messages_consumed_total", "Records a consumer received (each delivery counts).", ("topic", "group")
)
MESSAGES_HANDLED = Counter(
    "voltline_bus_messages_handled_total", "Records whose handler succeeded.", ("topic", "group")
)
MESSAGES_FAILED = Counter(
    "voltline_bus_messages_failed_total", "Handler attempts that raised (every retry counts).", ("topic", "group")
)
MESSAGES_DEAD_LETTERED = Counter(
    "voltline_bus_messages_dead_lettered_total", "Records parked on a dead-letter topic.", ("topic", "group")
)
HANDLER_LATENCY = Histogram(
    "voltline_bus_handler_duration_seconds",
    "Duration of one handler attempt.",
    ("topic", "group"),
    buckets=_LATENCY_BUCKETS,
)
REQUEST_LATENCY = Histogram(
    "voltline_bus_request_duration_seconds",
    "Request/reply round trip, publish included, for requests that got a reply.",
    ("topic",),
    buckets=_LATENCY_BUCKETS,
)
REQUEST_STAGES = Histogram(
    "voltline_bus_request_stage_seconds",
    "Where a request/reply round trip goes (wall clock; envelope times, so one machine's clock is best): "
    "request_publish and reply_delivery (reply created -> its waiter woken) at the requester, "
    "until_answered (request created -> answer decided) and reply_publish at the owner.",
    ("stage",),
    buckets=_LATENCY_BUCKETS,
)
REQUEST_TIMEOUTS = Counter("voltline_bus_request_timeouts_total", "Requests that got no reply in time.", ("topic",))
LATE_REPLIES = Counter(
    "voltline_bus_late_replies_total", "Replies dropped because nobody waited for them any more.", ("reply_topic",)
)
CONSUMER_LAG = Gauge(
    "voltline_bus_consumer_lag",
    "Records in a partition beyond the last one this consumer group handled, to the partition's end offset "
    "(asked of the broker at each /readyz; between them, the fetches' high watermarks).",
    ("group", "topic", "partition"),
)
BATCH_SIZE = Histogram(
    "voltline_bus_batch_size",
    "Events handled in one batch transaction.",
    ("topic", "group"),
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
BATCH_LATENCY = Histogram(
    "voltline_bus_batch_duration_seconds",
    "Handling and committing one batch.",
    ("topic", "group"),
    buckets=_LATENCY_BUCKETS,
)
BATCH_FALLBACKS = Counter(
    "voltline_bus_batch_fallbacks_total",
    "Batches that failed and were handled again around the failing event.",
    ("topic", "group"),
)
