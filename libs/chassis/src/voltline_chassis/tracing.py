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
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, StatusCode
from structlog.types import EventDict, WrappedLogger
from voltline_bus import tracing as bus_tracing

_provider: TracerProvider | None = None
_tracer = trace.get_tracer("voltline.http")
_TRACE_HEADERS = (b"traceparent", b"tracestate")


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


@contextmanager
def http_server_span(scope: Any) -> Iterator[Span | None]:
    """A SERVER span for one HTTP request, continuing the caller's `traceparent` (None when tracing is off).

    Named `<METHOD>` until `name_http_span` gives it the route template once routing has happened."""
    if not bus_tracing.enabled():
        yield None
        return
    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ()) if k in _TRACE_HEADERS}
    with _tracer.start_as_current_span(
        scope["method"],
        context=propagate.extract(carrier),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
    ) as span:
        yield span


def name_http_span(span: Span, method: str, route: str, status: int) -> None:
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(StatusCode.ERROR)
