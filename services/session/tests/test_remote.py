"""Remote start and stop (the app flow) against fakes of the auth service and the gateway on real Kafka.

The fakes answer per a script, as the real services would over request/reply; a "station" behind the
fake gateway starts and stops transactions the way a real one does after accepting a command.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from session_fakes import Responder, Stations, online, presence
from session_fakes import now as _now
from session_fakes import soon as _soon
from test_session_support import (
    ADMIN,
    RunningSession,
    ended,
    energy,
    new_database,
    run_service,
    wait_session,
)
from voltline_events import Envelope, Event
from voltline_events.payloads import AuthorizationDecision, StationCommand, StationCommandResult

pytestmark = pytest.mark.asyncio(loop_scope="module")

HALF_HOUR = timedelta(minutes=30)


TOKENS = {"APP-1": ("Accepted", "DRIVER-1"), "APP-2": ("Accepted", "DRIVER-2"), "BLOCKED": ("Blocked", None)}


async def auth_script(request: Envelope, payload: Any) -> Event | None:
    known = TOKENS.get(payload.id_token.id_token)
    return AuthorizationDecision(status=known[0], driver_id=known[1]) if known else None  # unknown: silent


def accepted(command: StationCommand) -> StationCommandResult:
    return StationCommandResult(outcome="answered", action=command.action, payload={"status": "Accepted"})


Fakes = tuple[Responder, Responder, Stations]  # auth, gateway, the stations behind the gateway

# Every answer goes over the real broker and back: on a machine at load 25 it took more than 1.5 s. Tests that
# expect an answer wait long for it; only a test of a silence waits the short time it is about.
PATIENT = {"auth_timeout_s": 30, "command_timeout_s": 30, "gateway_grace_s": 1}


async def _running(kafka: Any, postgres: Any, **timeouts: float) -> AsyncIterator[tuple[RunningSession, Fakes]]:
    async for running in run_service(kafka, new_database(postgres), **timeouts):
        stations = Stations()
        auth = Responder(running.bootstrap, running.producer, running.topics.auth_requests, auth_script, "auth/fake")
        gateway = Responder(
            running.bootstrap, running.producer, running.topics.station_commands, stations, "gateway/fake"
        )
        await auth.start()
        await gateway.start()
        try:
            yield running, (auth, gateway, stations)
        finally:
            await gateway.stop()
            await auth.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def patient(kafka: Any, postgres: Any) -> AsyncIterator[tuple[RunningSession, Fakes]]:
    async for running in _running(kafka, postgres, **PATIENT):
        yield running


@pytest.fixture
def service(patient: tuple[RunningSession, Fakes]) -> RunningSession:
    return patient[0]


@pytest.fixture
def fakes(patient: tuple[RunningSession, Fakes]) -> Fakes:
    return patient[1]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hasty_gateway(kafka: Any, postgres: Any) -> AsyncIterator[tuple[RunningSession, Fakes]]:
    """Waits 2 s for a station and 1 s more for its gateway; as long as ever for auth."""
    async for running in _running(kafka, postgres, auth_timeout_s=30, command_timeout_s=2, gateway_grace_s=1):
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hasty_auth(kafka: Any, postgres: Any) -> AsyncIterator[tuple[RunningSession, Fakes]]:
    """Waits 1.5 s for auth."""
    async for running in _running(kafka, postgres, auth_timeout_s=1.5, command_timeout_s=30, gateway_grace_s=1):
        yield running


def commands_to(gateway: Responder, station_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(c.action, c.payload) for sid, c in gateway.requests if sid == station_id]


async def start(service: RunningSession, **body: Any) -> Any:
    return await service.api.post("/api/v1/remote-start", json=body, headers=ADMIN)


async def test_16_app_session_from_remote_start_to_remote_stop(service: RunningSession, fakes: Any) -> None:
    _, gateway, stations = fakes
    cp = await online(service, "CP16-APP")
    begin = _now()

    async def station(command: StationCommand) -> StationCommandResult:
        if command.action == "RemoteStartTransaction":  # the station accepts, then starts a transaction for the tag
            tag = command.payload["idTag"]
            _soon(cp.tx("started", "5001", begin, connector_id=1, id_tag=tag, meter_start_wh=2_000))
        else:
            _soon(cp.tx("ended", "5001", begin + HALF_HOUR, meter_stop_wh=9_000, stop_reason="Remote"))
        return accepted(command)

    stations.behaviour["CP16-APP"] = station
    response = await start(service, station_id="CP16-APP", id_token="APP-1", connector_id=1)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["station_response"]) == ("Accepted", {"status": "Accepted"})
    assert commands_to(gateway, "CP16-APP") == [("RemoteStartTransaction", {"idTag": "APP-1", "connectorId": 1})]

    session = await wait_session(service.api, ADMIN, "CP16-APP", lambda s: s["driver_id"] is not None)
    assert (session["remote_start_id"], session["driver_id"]) == (body["remote_start_id"], "DRIVER-1")
    linked = (await service.api.get(f"/api/v1/remote-starts/{body['remote_start_id']}", headers=ADMIN)).json()
    assert (linked["status"], linked["session_id"]) == ("accepted", session["session_id"])

    stop = await service.api.post(f"/api/v1/sessions/{session['session_id']}/remote-stop", headers=ADMIN)
    assert stop.status_code == 200 and stop.json()["status"] == "Accepted", stop.text
    assert commands_to(gateway, "CP16-APP")[-1] == ("RemoteStopTransaction", {"transactionId": 5001})
    done = await wait_session(service.api, ADMIN, "CP16-APP", lambda s: s["status"] == "completed")
    assert (done["energy_wh"], done["stop_reason"]) == (7_000, "Remote")
    events = await service.events.wait(session["session_id"], lambda e: bool(ended(e)))
    assert events[0]["type"] == "session.started" and events[0]["driver_id"] == "DRIVER-1"
    assert (ended(events)[0]["driver_id"], ended(events)[0]["remote_start_id"]) == ("DRIVER-1", body["remote_start_id"])


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
async def test_2x_app_session_is_linked_by_remote_start_id(service: RunningSession, fakes: Any, version: str) -> None:
    _, gateway, stations = fakes
    station_id = f"CP-APP-{version[4:].replace('.', '')}"
    cp = await online(service, station_id, version)
    tx_id = f"tx-{station_id}"
    begin = _now()

    async def station(command: StationCommand) -> StationCommandResult:
        if command.action == "RequestStartTransaction":
            started = cp.tx(
                "started", tx_id, begin, seq_no=0, evse_id=1, connector_id=1, trigger_reason="RemoteStart",
                remote_start_id=command.payload["remoteStartId"], id_tag="APP-2",
                meter_values=[energy(begin, 10_000, "Transaction.Begin")],
            )  # fmt: skip
            _soon(started)
        else:
            end = [energy(begin + HALF_HOUR, 14_321, "Transaction.End")]
            ended_tx = cp.tx("ended", tx_id, begin + HALF_HOUR, seq_no=1, stop_reason="Remote", meter_values=end)
            _soon(ended_tx)
        return accepted(command)

    stations.behaviour[station_id] = station
    response = await start(service, station_id=station_id, id_token="APP-2", evse_id=1)
    assert response.status_code == 200, response.text
    remote_start_id = response.json()["remote_start_id"]
    [(action, payload)] = commands_to(gateway, station_id)
    assert action == "RequestStartTransaction"
    assert payload == {
        "idToken": {"idToken": "APP-2", "type": "Central"},
        "remoteStartId": remote_start_id,
        "evseId": 1,
    }

    session = await wait_session(service.api, ADMIN, station_id, lambda s: s["driver_id"] is not None)
    assert (session["remote_start_id"], session["driver_id"]) == (remote_start_id, "DRIVER-2")
    stop = await service.api.post(f"/api/v1/sessions/{session['session_id']}/remote-stop", headers=ADMIN)
    assert stop.status_code == 200, stop.text
    assert commands_to(gateway, station_id)[-1] == ("RequestStopTransaction", {"transactionId": tx_id})
    done = await wait_session(service.api, ADMIN, station_id, lambda s: s["status"] == "completed")
    assert done["energy_wh"] == 4_321
    again = await service.api.post(f"/api/v1/sessions/{session['session_id']}/remote-stop", headers=ADMIN)
    assert again.status_code == 409 and "already ended" in again.json()["detail"]


async def test_offline_station_fails_with_a_message_saying_so(service: RunningSession, fakes: Any) -> None:
    _, gateway, _ = fakes  # no behaviour: the gateway answers that the station is offline
    await online(service, "CP-GONE")
    response = await start(service, station_id="CP-GONE", id_token="APP-1")
    assert response.status_code == 409 and response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "station_offline" and "offline" in problem["detail"], problem
    failed = (await service.api.get(f"/api/v1/remote-starts/{problem['remote_start_id']}", headers=ADMIN)).json()
    assert failed["status"] == "failed" and "offline" in failed["message"]

    never = await start(service, station_id="CP-NEVER-SEEN", id_token="APP-1")
    assert never.status_code == 409 and "offline" in never.json()["detail"]
    assert commands_to(gateway, "CP-NEVER-SEEN") == []


async def test_disconnected_station_with_no_gateway_answering_is_offline(service: RunningSession, fakes: Any) -> None:
    _, _, stations = fakes
    cp = await online(service, "CP-DARK")
    await cp.disconnect()
    stations.behaviour["CP-DARK"] = _silent
    await presence(service, cp, connected=False)
    response = await start(service, station_id="CP-DARK", id_token="APP-1")
    assert response.status_code == 409, response.text
    assert "CP-DARK is offline (disconnected since" in response.json()["detail"]


async def test_no_gateway_answer_for_a_connected_station(hasty_gateway: tuple[RunningSession, Fakes]) -> None:
    service, (_, _, stations) = hasty_gateway
    await online(service, "CP-LIMBO")
    stations.behaviour["CP-LIMBO"] = _silent
    response = await start(service, station_id="CP-LIMBO", id_token="APP-1")
    assert response.status_code == 504 and response.json()["code"] == "gateway_timeout"
    assert "No gateway answered RemoteStartTransaction for station CP-LIMBO within 3 s" in response.json()["detail"]


async def test_token_refused_by_auth_sends_nothing(service: RunningSession, fakes: Any) -> None:
    _, gateway, _ = fakes
    await online(service, "CP-STRICT")
    blocked = await start(service, station_id="CP-STRICT", id_token="BLOCKED")
    assert blocked.status_code == 409
    assert (blocked.json()["code"], blocked.json()["authorization_status"]) == ("id_token_not_accepted", "Blocked")
    assert commands_to(gateway, "CP-STRICT") == []


async def test_token_auth_does_not_answer_sends_nothing(hasty_auth: tuple[RunningSession, Fakes]) -> None:
    service, (_, gateway, _) = hasty_auth
    await online(service, "CP-STRICT")
    silent_auth = await start(service, station_id="CP-STRICT", id_token="UNKNOWN-TO-FAKE")
    assert silent_auth.status_code == 503 and "auth service did not answer" in silent_auth.json()["detail"]
    assert commands_to(gateway, "CP-STRICT") == []


async def test_station_rejecting_erring_or_not_answering(service: RunningSession, fakes: Any) -> None:
    _, _, stations = fakes
    await online(service, "CP-NO", "ocpp2.0.1")

    async def refuse(command: StationCommand) -> StationCommandResult:
        evse = command.payload.get("evseId")
        if evse == 2:
            return StationCommandResult(outcome="call_error", action=command.action, error_code="InternalError")
        if evse == 3:
            return StationCommandResult(outcome="timeout", action=command.action)
        answer = {"status": "Rejected", "statusInfo": {"reasonCode": "Occupied"}}
        return StationCommandResult(outcome="answered", action=command.action, payload=answer)

    stations.behaviour["CP-NO"] = refuse
    rejected = await start(service, station_id="CP-NO", id_token="APP-1", evse_id=1)
    assert (rejected.status_code, rejected.json()["code"]) == (409, "station_rejected")
    assert rejected.json()["station_response"]["status"] == "Rejected" and "Occupied" in rejected.json()["detail"]
    erring = await start(service, station_id="CP-NO", id_token="APP-1", evse_id=2)
    assert (erring.status_code, erring.json()["code"]) == (502, "station_call_error")
    assert "InternalError" in erring.json()["detail"]
    silent = await start(service, station_id="CP-NO", id_token="APP-1", evse_id=3)
    assert (silent.status_code, silent.json()["code"]) == (504, "station_timeout")
    assert "CP-NO did not answer RequestStartTransaction within 30 s" in silent.json()["detail"]


async def _silent(command: StationCommand) -> None:
    return None
