"""Charging from the drivers' app (/api/v1/me/...) with fakes of auth and the gateway on real Kafka.

Drivers' tokens are signed here with a key published, as auth publishes it, on the API-keys topic: the
session service verifies them locally.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from session_fakes import Responder, Stations, online
from session_fakes import now as _now
from session_fakes import soon as _soon
from test_session_support import ADMIN, TOKEN, RunningSession, new_database, run_service, wait_session
from voltline_chassis.api_keys import record_signing_key
from voltline_chassis.driver_tokens import RECORD_KEY_PREFIX, SigningKey, sign_key_record
from voltline_devinfra.api_probes import list_routes_refuse_huge_offsets
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, Event, envelope_for
from voltline_events.payloads import AuthorizationDecision, StationCommand, StationCommandResult
from voltline_events.payloads.auth import DriverSigningKey

pytestmark = pytest.mark.asyncio(loop_scope="module")

APP = {"APPALICE": "alice", "APPBOB": "bob"}
KEY = SigningKey.generate(datetime.now(UTC))
BROKE = {"carol"}


class Payments:
    async def can_pay(self, driver_id: str) -> bool:
        return driver_id not in BROKE


def bearer(driver_id: str, id_token: str | None) -> dict[str, str]:
    # Made at import (collection): valid long enough for a whole test run before this module.
    token = KEY.sign(driver_id, id_token, datetime.now(UTC), timedelta(hours=3))
    return {"Authorization": f"Bearer {token}"}


ALICE = bearer("alice", "APPALICE")
BOB = bearer("bob", "APPBOB")
CAROL = bearer("carol", "APPCAROL")


async def auth_script(request: Envelope, payload: Any) -> Event | None:
    driver = APP.get(payload.id_token.id_token)
    return AuthorizationDecision(status="Accepted" if driver else "Invalid", driver_id=driver)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(kafka: Any, postgres: Any) -> AsyncIterator[RunningSession]:
    async for running in run_service(
        kafka, new_database(postgres), Payments(), auth_timeout_s=2, command_timeout_s=2, driver_stream_interval_s=0.2
    ):
        record = DriverSigningKey(kid=KEY.kid, public_key=KEY.public_pem(), created_at=KEY.created_at)
        record = sign_key_record(record, record_signing_key(TOKEN), datetime.now(UTC))
        envelope = envelope_for(record, source="auth/test")
        await running.producer.publish(running.topics.api_keys, envelope, key=f"{RECORD_KEY_PREFIX}{KEY.kid}".encode())

        async def accepted(running: RunningSession = running) -> bool:
            return (await running.api.get("/api/v1/me/sessions", headers=ALICE)).status_code == 200

        await eventually(accepted, what="the session service to know the driver key")
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fakes(service: RunningSession) -> AsyncIterator[Stations]:
    stations = Stations()
    auth = Responder(service.bootstrap, service.producer, service.topics.auth_requests, auth_script, "auth/fake")
    gateway = Responder(service.bootstrap, service.producer, service.topics.station_commands, stations, "gateway/fake")
    await auth.start()
    await gateway.start()
    yield stations
    await gateway.stop()
    await auth.stop()


def ok(command: StationCommand) -> StationCommandResult:
    return StationCommandResult(outcome="answered", action=command.action, payload={"status": "Accepted"})


async def test_start_follow_stop_and_list(service: RunningSession, fakes: Stations) -> None:
    cp = await online(service, "CP-ME-1")
    begin = _now()

    async def station(command: StationCommand) -> StationCommandResult:
        if command.action == "RemoteStartTransaction":
            _soon(cp.tx("started", "77", begin, connector_id=1, id_tag=command.payload["idTag"], meter_start_wh=1_000))
        else:
            _soon(cp.tx("ended", "77", begin + timedelta(minutes=20), meter_stop_wh=5_000, stop_reason="Remote"))
        return ok(command)

    fakes.behaviour["CP-ME-1"] = station
    started = await service.api.post("/api/v1/me/sessions", json={"station_id": "CP-ME-1"}, headers=ALICE)
    assert started.status_code == 200, started.text
    session = await wait_session(service.api, ADMIN, "CP-ME-1", lambda s: s["driver_id"] == "alice")
    sid = session["session_id"]
    active = (await service.api.get("/api/v1/me/sessions", params={"status": "active"}, headers=ALICE)).json()
    assert [s["session_id"] for s in active["items"]] == [sid]

    # The live stream runs until the session ends.
    stream = asyncio.create_task(service.api.get(f"/api/v1/me/sessions/{sid}/stream", headers=ALICE))
    stopped = await service.api.post(f"/api/v1/me/sessions/{sid}/stop", headers=ALICE)
    assert stopped.status_code == 200 and stopped.json()["status"] == "Accepted", stopped.text
    response = await asyncio.wait_for(stream, 30)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[0]["status"] == "active" and events[-1]["status"] == "completed"
    assert events[-1]["energy_wh"] == 4_000 and events[-1]["cost"] is None

    past = (await service.api.get("/api/v1/me/sessions", params={"status": "completed"}, headers=ALICE)).json()
    assert [s["session_id"] for s in past["items"]] == [sid]


async def test_no_driver_sees_or_stops_another_drivers_session(service: RunningSession, fakes: Stations) -> None:
    await wait_session(service.api, ADMIN, "CP-ME-1", lambda s: s["status"] == "completed")
    [sid] = [s["session_id"] for s in (await service.api.get("/api/v1/me/sessions", headers=ALICE)).json()["items"]]
    assert (await service.api.get("/api/v1/me/sessions", headers=BOB)).json()["items"] == []
    for method, path in [
        ("GET", f"/api/v1/me/sessions/{sid}"),
        ("POST", f"/api/v1/me/sessions/{sid}/stop"),
        ("GET", f"/api/v1/me/sessions/{sid}/stream"),
    ]:
        response = await service.api.request(method, path, headers=BOB)
        assert response.status_code == 404, (method, path, response.text)
    # Drivers are no operators, operators no drivers.
    assert (await service.api.get(f"/api/v1/sessions/{sid}", headers=BOB)).status_code == 403
    assert (await service.api.get("/api/v1/me/sessions", headers=ADMIN)).status_code == 403
    assert (await service.api.get("/api/v1/me/sessions")).status_code == 401


async def test_driver_lists_refuse_huge_offsets(service: RunningSession) -> None:
    answers = await list_routes_refuse_huge_offsets(service.api, ALICE, under="/api/v1/me/")
    assert answers == {"/api/v1/me/sessions": 422}


async def test_refused_when_the_driver_cannot_pay(service: RunningSession, fakes: Stations) -> None:
    refused = await service.api.post("/api/v1/me/sessions", json={"station_id": "CP-ME-1"}, headers=CAROL)
    assert refused.status_code == 402 and refused.json()["code"] == "payment_required", refused.text


async def test_forged_and_expired_tokens_are_refused(service: RunningSession) -> None:
    other = SigningKey.generate(datetime.now(UTC))  # never published
    forged = other.sign("alice", "APPALICE", datetime.now(UTC), timedelta(minutes=5))
    assert (
        await service.api.get("/api/v1/me/sessions", headers={"Authorization": f"Bearer {forged}"})
    ).status_code == 401
    old = KEY.sign("alice", "APPALICE", datetime.now(UTC) - timedelta(hours=1), timedelta(minutes=5))
    assert (await service.api.get("/api/v1/me/sessions", headers={"Authorization": f"Bearer {old}"})).status_code == 401
