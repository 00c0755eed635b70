"""The live stream reads the service's events topic: a status change and an alert reach a subscriber, through
the generator and over a real HTTP connection (uvicorn serving the app, httpx reading the stream)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from diagnostics_testing import ADMIN, RunningDiagnostics
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


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """The app on a real socket (its lifespan already runs in the fixture); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, data) per Server-Sent Event; comment lines (keepalives) are skipped."""
    name, data = "", ""
    async for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and name:
            yield name, json.loads(data)
            name, data = "", ""


async def test_the_stream_over_real_http_delivers_status_and_alert_events(service: RunningDiagnostics) -> None:
    sid = "CP-SSE-HTTP"
    async with served(service.app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        unauthorised = await http.get("/api/v1/stream")
        assert unauthorised.status_code == 401
        params = {"station_id": sid, "type": ["diagnostics.connector_status_changed", "diagnostics.alert_opened"]}
        async with http.stream("GET", "/api/v1/stream", params=params, headers=ADMIN) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == ": connected"  # subscribed: what happens from now on is streamed
            other, cp = service.station("CP-SSE-OTHER"), service.station(sid)
            for station in (other, cp):
                await station.connect()
                await station.send(
                    ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Faulted", error_code="OverVoltage")
                )
            seen: list[tuple[str, dict[str, Any]]] = []
            events = sse_events(lines)
            while not any(name == "diagnostics.alert_opened" for name, _ in seen):
                seen.append(await asyncio.wait_for(anext(events), 30))
    assert {name for name, _ in seen} == {"diagnostics.connector_status_changed", "diagnostics.alert_opened"}
    assert all(data["station_id"] == sid and data["type"] == name for name, data in seen)  # filtered server-side
    status = next(data for name, data in seen if name == "diagnostics.connector_status_changed")
    assert (status["status"], status["error_code"]) == ("Faulted", "OverVoltage")
    assert next(data for name, data in seen if name == "diagnostics.alert_opened")["rule"] == "connector_faulted"
