"""The live stream reads the service's events topic: a status change and an alert reach a subscriber."""

from __future__ import annotations

import asyncio
import json

import pytest
from diagnostics_testing import RunningDiagnostics
from voltline_bus import BusConfig
from voltline_diagnostics.entrypoints.api_stream import LiveStream, events
from voltline_events.payloads import ConnectorStatus

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_status_and_alert_changes_are_streamed(service: RunningDiagnostics) -> None:
    stream = LiveStream(
        BusConfig(bootstrap=service.settings.kafka_bootstrap, client_id="t"), service.topics.diagnostics
    )
    queue = await stream.subscribe()
    chunks = events(stream, queue, "CP-SSE", set())
    try:
        assert await anext(chunks) == b": connected\n\n"
        cp = service.station("CP-SSE")
        await cp.connect()
        await cp.send(
            ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Faulted", error_code="OverVoltage")
        )
        seen: list[dict[str, object]] = []
        while not any(e["type"] == "diagnostics.alert_opened" for e in seen):
            chunk = (await asyncio.wait_for(anext(chunks), 30)).decode()
            if chunk.startswith(":"):
                continue
            seen.append(json.loads(chunk.split("data: ", 1)[1]))
        status = next(e for e in seen if e["type"] == "diagnostics.connector_status_changed")
        assert (status["station_id"], status["status"], status["error_code"]) == ("CP-SSE", "Faulted", "OverVoltage")
        assert next(e for e in seen if e["type"] == "diagnostics.alert_opened")["rule"] == "connector_faulted"
    finally:
        await chunks.aclose()
        await stream.stop()
    assert (await service.api.get("/api/v1/stream")).status_code == 401
