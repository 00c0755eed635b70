"""Helpers for the diagnostics service's tests (no tests in here): the service in-process over the run's real
Kafka and PostgreSQL, stations simulated as the gateway's events, and a real local HTTP webhook receiver."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr
from test_session_support import StationSim, eventually
from voltline_bus import BusConfig, Producer
from voltline_diagnostics.bootstrap import build
from voltline_diagnostics.settings import DiagnosticsSettings
from voltline_events import Topics

__all__ = ["ADMIN", "Receiver", "RunningDiagnostics", "eventually", "run_service"]

TOKEN = "diagnostics-test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST; the first `fail_first` answers are 500."""

    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        path = head[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(path, headers, body))
        status = "500 Internal Server Error" if len(self.requests) <= self.fail_first else "200 OK"
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    def of(self, event_type: str, alert_id: str | None = None) -> list[Received]:
        return [
            r
            for r in self.requests
            if r.headers.get("x-voltline-event") == event_type
            and (alert_id is None or r.json().get("alert", {}).get("alert_id") == alert_id)
        ]


@dataclass
class RunningDiagnostics:
    api: httpx.AsyncClient
    producer: Producer
    topics: Topics
    settings: DiagnosticsSettings
    app: Any = None  # the ASGI app, for tests that serve it over real HTTP

    def station(self, station_id: str, ocpp_version: str = "ocpp1.6") -> StationSim:
        return StationSim(self.producer, self.topics, station_id, ocpp_version)

    async def status(self, station_id: str) -> dict[str, Any] | None:
        r = await self.api.get(f"/api/v1/stations/{station_id}/status", headers=ADMIN)
        return r.json() if r.status_code == 200 else None

    async def alerts(self, station_id: str, **params: str) -> list[dict[str, Any]]:
        r = await self.api.get("/api/v1/alerts", params={"station_id": station_id, **params}, headers=ADMIN)
        assert r.status_code == 200, r.text
        return r.json()["items"]  # type: ignore[no-any-return]

    async def wait_alert(self, station_id: str, rule: str, status: str = "open") -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            found = [a for a in await self.alerts(station_id, status=status) if a["rule"] == rule]
            return found[0] if found else None

        return await eventually(check, what=f"a {status} {rule} alert of {station_id}")


async def run_service(kafka: Any, database_url: str, **overrides: Any) -> AsyncIterator[RunningDiagnostics]:
    prefix = f"t-{secrets.token_hex(4)}."
    settings = DiagnosticsSettings(
        database_url=database_url,
        kafka_bootstrap=kafka.bootstrap_servers,
        topic_prefix=prefix,
        admin_token=SecretStr(TOKEN),
        instance_id=f"test-{secrets.token_hex(2)}",
        **{"monitor_interval_s": 0.2, "webhook_poll_s": 0.2, "webhook_backoff_initial_s": 0.2, **overrides},
    )
    app = build(settings)
    producer = Producer(BusConfig(bootstrap=kafka.bootstrap_servers, client_id="diagnostics-tests"))
    async with app.router.lifespan_context(app):
        await producer.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://diag") as api:
                yield RunningDiagnostics(api, producer, Topics(prefix), settings, app)
        finally:
            await producer.stop()
