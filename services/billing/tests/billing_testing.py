"""A billing service running in-process over the test run's real Kafka and PostgreSQL, and the session
service's events as the session service publishes them (that is the contract billing consumes)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from voltline_billing.adapters.sandbox_provider import SandboxProvider
from voltline_billing.bootstrap import build
from voltline_billing.settings import BillingSettings
from voltline_bus import BusConfig, Producer
from voltline_devinfra.waiting import eventually as eventually  # re-exported for the tests
from voltline_events import Envelope, Topics, envelope_for, station_key
from voltline_events.payloads import SessionEnded, SessionStarted, SessionUpdated

TOKEN = "billing-test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
T = TypeVar("T")


@dataclass
class RunningBilling:
    api: httpx.AsyncClient
    producer: Producer
    topics: Topics
    sandbox: SandboxProvider
    settings: BillingSettings

    async def publish(self, envelope: Envelope) -> None:
        assert envelope.station_id is not None
        await self.producer.publish(self.topics.sessions, envelope, key=station_key(envelope.station_id))

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.api.get(f"/api/v1{path}", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, body: Any = None, expect: int | None = None) -> Any:
        response = await self.api.post(f"/api/v1{path}", json=body, headers=ADMIN)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json() if response.content else None

    async def put(self, path: str, body: Any, expect: int = 200) -> Any:
        response = await self.api.put(f"/api/v1{path}", json=body, headers=ADMIN)
        assert response.status_code == expect, response.text
        return response.json()

    async def cdr(self, session_id: str) -> dict[str, Any]:
        """The session's CDR, once billing has consumed its session.ended."""
        found = await eventually(lambda: self.get("/cdrs", session_id=session_id), ok=lambda b: b["items"])
        [cdr] = found["items"]
        return cdr

    async def payment(self, session_id: str, state: str | None = None) -> dict[str, Any]:
        async def fetch() -> Any:
            return await self.get("/payments", session_id=session_id)

        body = await eventually(fetch, ok=lambda b: b["items"] and (state is None or b["items"][0]["state"] == state))
        return await self.get(f"/payments/{body['items'][0]['payment_id']}")


def started(session_id: str, station_id: str, at: datetime, driver_id: str | None = None, **extra: Any) -> Envelope:
    payload = SessionStarted(session_id=session_id, station_id=station_id, started_at=at, driver_id=driver_id,
                             id_token=extra.pop("id_token", "TOKEN-1"), evse_id=1, connector_id=1, **extra)  # fmt: skip
    return envelope_for(payload, source="session/test", station_id=station_id, session_id=session_id)


def updated(session_id: str, station_id: str, at: datetime, energy_wh: int, power_w: float = 11_000) -> Envelope:
    payload = SessionUpdated(session_id=session_id, station_id=station_id, energy_wh=energy_wh, power_w=power_w, at=at)
    return envelope_for(payload, source="session/test", station_id=station_id, session_id=session_id)


def ended(
    session_id: str, station_id: str, start: datetime, end: datetime, energy_wh: int, driver_id: str | None = None,
    **extra: Any,
) -> Envelope:  # fmt: skip
    payload = SessionEnded.model_validate(
        {"session_id": session_id, "station_id": station_id, "started_at": start, "ended_at": end,
         "energy_wh": energy_wh, "driver_id": driver_id, "id_token": "TOKEN-1", "evse_id": 1, "connector_id": 1,
         "stop_reason": "EVDisconnected", **extra}
    )  # fmt: skip
    return envelope_for(payload, source="session/test", station_id=station_id, session_id=session_id)


@asynccontextmanager
async def running_billing(
    kafka: Any, postgres: Any, guest_starts: Any = None, mail: Any = None, **overrides: Any
) -> AsyncIterator[RunningBilling]:
    prefix = f"t-{secrets.token_hex(4)}."
    database_url = overrides.pop("database_url", None) or postgres.create_database(f"billing_{secrets.token_hex(4)}")
    settings = BillingSettings(
        database_url=database_url,
        kafka_bootstrap=kafka.bootstrap_servers,
        topic_prefix=prefix,
        admin_token=SecretStr(TOKEN),
        instance_id=f"test-{secrets.token_hex(2)}",
        payment_retry_interval_s=0,  # tests drive retries explicitly
        provider_timeout_s=5,
        **overrides,
    )
    sandbox = SandboxProvider()
    app = build(settings, provider=sandbox, guest_starts=guest_starts, mail=mail)
    producer = Producer(BusConfig(bootstrap=kafka.bootstrap_servers, client_id="billing-tests"))
    async with app.router.lifespan_context(app):
        await producer.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://billing") as api:
                yield RunningBilling(api, producer, Topics(prefix), sandbox, settings)
        finally:
            await producer.stop()
