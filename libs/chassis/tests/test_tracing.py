"""Tracing: off unless OpenTelemetry's variables ask for it; HTTP spans continue the caller's trace and every
log line of a traced request names its trace and span."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from voltline_bus import tracing as bus_tracing
from voltline_chassis.tracing import captured_spans, wanted

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as exporter:
        yield exporter


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),  # make run sets nothing
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_on_only_when_configured(environ: dict[str, str], on: bool) -> None:
    assert wanted(environ) is on


def test_hooks_are_off_by_default() -> None:
    assert not bus_tracing.enabled()


async def test_a_request_span_continues_the_callers_trace_and_logs_carry_its_ids(
    client: httpx.AsyncClient, helpers, capsys: pytest.CaptureFixture[str], spans: InMemorySpanExporter
) -> None:
    response = await client.post(
        "/api/v1/sessions",
        json={"station_id": "CP-5", "connector_id": 1},
        headers={**helpers.bearer(helpers.OPERATOR), "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
    )
    assert response.status_code == 201
    (span,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.name == "POST /api/v1/sessions"
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE and f"{span.parent.span_id:016x}" == CALLER_SPAN
    assert span.attributes["http.response.status_code"] == 201
    lines = helpers.log_lines(capsys.readouterr().out)
    [handler_line] = [line for line in lines if line["event"] == "session_started"]
    assert handler_line["trace_id"] == CALLER_TRACE
    assert handler_line["span_id"] == f"{span.context.span_id:016x}"


async def test_untraced_requests_log_no_trace_ids(
    client: httpx.AsyncClient, helpers, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await client.post(
        "/api/v1/sessions", json={"station_id": "CP-6", "connector_id": 1}, headers=helpers.bearer(helpers.OPERATOR)
    )
    assert response.status_code == 201
    [handler_line] = [line for line in helpers.log_lines(capsys.readouterr().out) if line["event"] == "session_started"]
    assert "trace_id" not in handler_line
