"""Prometheus metrics on the default registry.

Several apps (and their tests) can live in one process, and prometheus-client refuses to register a
name twice, so every metric goes through a get-or-create cache instead of bare constructors.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from starlette.requests import Request
from starlette.responses import Response

M = TypeVar("M", bound=MetricWrapperBase)

_lock = threading.Lock()
_metrics: dict[str, MetricWrapperBase] = {}


def _get_or_create(kind: type[M], name: str, documentation: str, labelnames: Sequence[str], **kw: Any) -> M:
    with _lock:
        existing = _metrics.get(name)
        if existing is None:
            created = kind(name, documentation, labelnames=tuple(labelnames), **kw)
            _metrics[name] = created
            return created
    if not isinstance(existing, kind) or tuple(existing._labelnames) != tuple(labelnames):
        # Two call sites disagreeing on a metric's shape is a bug; fail loudly rather than mis-count.
        raise ValueError(f"metric {name!r} already registered as {type(existing).__name__}{existing._labelnames}")
    return existing


def counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
    """Get or create a counter on the default registry."""
    return _get_or_create(Counter, name, documentation, labelnames)


def gauge(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
    """Get or create a gauge on the default registry."""
    return _get_or_create(Gauge, name, documentation, labelnames)


def histogram(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
) -> Histogram:
    """Get or create a histogram on the default registry."""
    return _get_or_create(Histogram, name, documentation, labelnames, buckets=tuple(buckets))


HTTP_REQUESTS = counter(
    "voltline_http_requests_total",
    "HTTP requests handled, by route template (not raw path, to bound cardinality).",
    ("service", "method", "route", "status"),
)
HTTP_LATENCY = histogram(
    "voltline_http_request_duration_seconds",
    "HTTP request latency from first byte received to response complete.",
    ("service", "method", "route"),
)
SERVICE_INFO = gauge(
    "voltline_service_info", "Constant 1; labels identify the running build.", ("service", "version", "instance")
)

SERVICE_READY = gauge(
    "voltline_service_ready",
    "1 when every readiness check passes, else 0; re-evaluated at each scrape of /metrics.",
    ("service",),
)


def observe_http_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    """Record one finished HTTP request."""
    HTTP_REQUESTS.labels(service, method, route, str(status)).inc()
    HTTP_LATENCY.labels(service, method, route).observe(seconds)


async def metrics_endpoint(_request: Request) -> Response:
    """Serve the Prometheus text exposition of the default registry."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
