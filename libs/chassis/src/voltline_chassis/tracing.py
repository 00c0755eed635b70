"""OpenTelemetry tracing for every service: off unless configured, OTLP when it is.

Configuration is OpenTelemetry's own environment variables, read by the SDK:
- tracing starts when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, or
  `OTEL_TRACES_EXPORTER` names `otlp` or `console`; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
  keep it off. Nothing is set under `make run`, so nothing is traced and the hooks cost one boolean test.
- `OTEL_EXPORTER_OTLP_*` (endpoint, headers, timeout, certificate), `OTEL_TRACES_SAMPLER(_ARG)`,
  `OTEL_BSP_*` (batching), `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` work as documented by OpenTelemetry.
  The exporter speaks OTLP over HTTP/protobuf (port 4318 of a collector).

What is traced is in docs/observability.md; the Kafka hooks are in `voltline_bus.tracing`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from structlog.types import EventDict, WrappedLogger
from voltline_bus import tracing as bus_tracing

_provider: TracerProvider | None = None
_captured: InMemorySpanExporter | None = None
_UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces (see the module docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()}
    if "none" in exporters:
        return False
    if exporters & {"otlp", "console"}:
        return True
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(
    service: str, *, exporter: SpanExporter | None = None, environ: Mapping[str, str] = os.environ
) -> bool:
    """Install the SDK once per process and turn the bus hooks on; True when tracing is on.

    `exporter` replaces what the environment would choose (tests pass an in-memory exporter; spans are then
    exported synchronously as each ends, and `bus_tracing.enable(False)` turns tracing off again after the
    test). Called by `create_app`, so each service needs nothing of its own.
    """
    global _provider
    if _provider is not None:  # OpenTelemetry allows one provider per process: the first call decides
        if exporter is not None:
            bus_tracing.enable()  # a test's in-memory exporter, installed by an earlier test
        return bus_tracing.enabled()
    if exporter is None and not wanted(environ):
        return False
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    provider = TracerProvider(resource=Resource.create(attributes))  # sampler from OTEL_TRACES_SAMPLER
    if exporter is not None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        for name in {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}:
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    _provider = provider
    bus_tracing.enable()
    return True


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER: {name!r} is not supported here (use otlp, console or none)")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, certificate, timeout: OTEL_EXPORTER_OTLP_*


def shutdown_tracing() -> None:
    """Export what is still buffered (at service stop): spans of the last seconds are not lost."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)


def add_trace_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: `trace_id`/`span_id` of the current span on every line, to go from logs to traces."""
    if bus_tracing.enabled():
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
            event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's own OpenTelemetry support makes the HTTP SERVER spans (continuing a caller's `traceparent`):
    only while tracing is on, not for probes and scrapes, and without its metrics and logs (Prometheus and
    structlog do those) or its per-dependency spans."""
    return {
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "exclude": lambda scope: not bus_tracing.enabled() or scope.get("path") in _UNTRACED_PATHS,
    }


@contextmanager
def captured_spans() -> Iterator[InMemorySpanExporter]:
    """For tests: tracing on, every span of this process kept in memory (cleared first), off again after.

    OpenTelemetry takes one tracer provider per process, so all tests share one in-memory exporter."""
    global _captured
    if _captured is None:
        _captured = InMemorySpanExporter()
    if not configure_tracing("voltline-test", exporter=_captured):
        raise RuntimeError("tracing could not be turned on")
    _captured.clear()
    try:
        yield _captured
    finally:
        bus_tracing.enable(False)
