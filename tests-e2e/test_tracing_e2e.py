"""Traces end to end: gateway, auth and session as processes, configured only by OpenTelemetry's variables,
export over OTLP/HTTP to a receiver in this test. A station's StartTransaction is one trace across the three
services; an API's remote start is one trace from the session's HTTP span to the gateway's command."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem, start_system
from ocpp_client import station
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from test_session_support import eventually
from voltline_devinfra._proc import free_port

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
_ids = itertools.count(1)


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP (protobuf) trace receiver: what a collector gets, kept in `spans`."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.spans: list[Span] = []
        self.lock = threading.Lock()

    def named(self, name: str, service: str | None = None) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.name == name and service in (None, s.service)]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
                    received.append(
                        Span(
                            resource["service.name"],
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            attributes,
                        )
                    )
        with self.server.lock:
            self.server.spans.extend(received)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}",
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fifth of a second, not five
    }
    names = ("auth", "session", "gateway")
    yield from start_system(
        kafka, postgres, tmp_path_factory.mktemp("traced"), extra_env={n: otel for n in names}, names=names
    )


async def _call(ws: Any, action: str, payload: dict[str, Any]) -> list[Any]:
    message_id = f"t{next(_ids)}"
    await ws.send(json.dumps([2, message_id, action, payload]))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame[0] == 2:  # a call from the CSMS: accept it
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        elif frame[1] == message_id:
            return frame  # type: ignore[no-any-return]


def _one_trace(receiver: Receiver, root: Span, expected: set[tuple[str, str]]) -> list[Span]:
    """The spans of root's trace once they include every (service, span name) of `expected`."""
    with receiver.lock:
        spans = [s for s in receiver.spans if s.trace_id == root.trace_id]
    return spans if {(s.service, s.name) for s in spans} >= expected else []


async def test_one_station_call_is_one_trace_across_services(system: RunningSystem, receiver: Receiver) -> None:
    async with httpx.AsyncClient(base_url=f"{system.url('auth')}/api/v1", headers=system.headers) as auth:
        assert (await auth.post("/stations", json={"station_id": "CP-TRACE"})).status_code == 201
        driver = (await auth.post("/drivers", json={"name": "Ada", "email": "ada@example.com"})).json()
        token = {"id_token": "CARDTRACE", "type": "ISO14443", "driver_id": driver["driver_id"]}
        assert (await auth.post("/id-tokens", json=token)).status_code == 201
    async with station(system.ocpp_url, "CP-TRACE") as ws:
        assert (await _call(ws, "BootNotification", BOOT_16))[2]["status"] == "Accepted"
        start = {"connectorId": 1, "idTag": "CARDTRACE", "meterStart": 0, "timestamp": "2026-01-01T08:00:00Z"}
        started = await _call(ws, "StartTransaction", start)
        assert started[2]["idTagInfo"]["status"] == "Accepted"

        (root,) = await eventually(lambda: _spans(receiver, "ocpp StartTransaction"), what="the gateway's call span")
        assert root.parent_span_id == "" and root.attributes["voltline.station_id"] == "CP-TRACE"

        expected = {
            ("gateway", "create station.transaction"),
            ("auth", "process auth.authorization.requested"),  # the gateway asked auth about the card...
            ("auth", "create auth.authorization"),  # ... and auth answered
            ("session", "process station.transaction"),  # the session service opened the session
        }

        async def whole_trace() -> list[Span]:
            return _one_trace(receiver, root, expected)

        try:
            spans = await eventually(whole_trace, what="spans of auth and session in the call's trace")
        finally:
            print(sorted({(s.service, s.name) for s in receiver.spans if s.trace_id == root.trace_id}))
        names = {(s.service, s.name) for s in spans}
        assert any(service == "session" and name.startswith("db ") for service, name in names)
        # Every span hangs from another of the same trace: one connected tree, rooted at the station's call.
        ids = {s.span_id for s in spans}
        assert all(s.parent_span_id in ids for s in spans if s is not root)

        # An operator's remote start: one trace from the session's API to the gateway's command.
        async with httpx.AsyncClient(base_url=f"{system.url('session')}/api/v1", headers=system.headers) as api:

            async def connected() -> bool:
                response = await api.get("/station-presence/CP-TRACE")
                return response.status_code == 200 and response.json()["connected"]

            await eventually(connected, what="the session service to see CP-TRACE connected")
            request = asyncio.create_task(
                api.post("/remote-start", json={"station_id": "CP-TRACE", "id_token": "CARDTRACE", "connector_id": 2})
            )
            while True:  # the CSMS's call, accepted
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if frame[0] == 2:
                    await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                    if frame[2] == "RemoteStartTransaction":
                        break
            response = await request
        assert response.status_code in (200, 202), response.text
        (command,) = await eventually(lambda: _spans(receiver, "command RemoteStartTransaction"), what="the command")

        async def api_span() -> list[Span]:  # the session exports its request span after answering: wait for it
            return [s for s in receiver.named("POST /api/v1/remote-start", "session") if s.trace_id == command.trace_id]

        try:
            await eventually(api_span, what="the command to continue the trace of the session's API request")
        finally:
            print(sorted({(s.service, s.name) for s in receiver.spans if s.trace_id == command.trace_id}))


async def _spans(receiver: Receiver, name: str) -> list[Span]:
    return receiver.named(name, "gateway")
