"""Sessions the station will never end (reboots, reused connectors, forgotten or silent transactions) are ended
by voltline with a reason, at their last known reading, and published — over real Kafka and PostgreSQL, with a
fake gateway answering the checks the service sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from session_fakes import Responder, Stations, online
from session_fakes import now as _now
from session_fakes import soon as _soon
from test_session_support import ADMIN, RunningSession, ended, energy, eventually, new_database, run_service
from voltline_events.payloads import BootNotification, IdToken, StationCommand, StationCommandResult, TransactionRefused

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(kafka: Any, postgres: Any) -> AsyncIterator[RunningSession]:
    async for running in run_service(
        kafka,
        new_database(postgres),
        command_timeout_s=1,
        gateway_grace_s=0.5,
        session_suspect_check_interval_s=0.3,
        session_silent_after_s=8,
        session_confirm_grace_s=3,
    ):
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(service: RunningSession) -> AsyncIterator[tuple[Responder, Stations]]:
    stations = Stations()
    fake = Responder(service.bootstrap, service.producer, service.topics.station_commands, stations, "gateway/fake")
    await fake.start()
    yield fake, stations
    await fake.stop()


def answer(command: StationCommand, payload: dict[str, Any]) -> StationCommandResult:
    return StationCommandResult(outcome="answered", action=command.action, payload=payload)


async def sessions_of(service: RunningSession, station_id: str) -> dict[str, dict[str, Any]]:
    response = await service.api.get("/api/v1/sessions", params={"station_id": station_id}, headers=ADMIN)
    return {s["transaction_id"]: s for s in response.json()["items"]}


async def wait_tx(service: RunningSession, station_id: str, tx_id: str, ready: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = (await sessions_of(service, station_id)).get(tx_id)
        return found if found and ready(found) else None

    return await eventually(check, what=f"transaction {tx_id} of {station_id}")


def completed(s: dict[str, Any]) -> bool:
    return s["status"] == "completed"


async def boot(cp: Any) -> None:
    await cp.send(BootNotification(ocpp_version=cp.ocpp_version, vendor="v", model="m", reason="PowerUp", raw={}))


async def test_a_new_transaction_on_the_connector_ends_the_one_the_station_forgot(
    service: RunningSession, gateway: Any
) -> None:
    cp = await online(service, "CP16-REUSE")
    begin = _now() - timedelta(minutes=30)
    await cp.tx("started", "7001", begin, connector_id=1, id_tag="CARD-R", meter_start_wh=1_000)
    await cp.tx(
        "updated", "7001", begin + timedelta(minutes=10), meter_values=[energy(begin + timedelta(minutes=10), 4_000)]
    )
    await cp.tx("started", "7002", begin + timedelta(minutes=20), connector_id=1, id_tag="CARD-R", meter_start_wh=4_100)
    old = await wait_tx(service, "CP16-REUSE", "7001", completed)
    assert (old["stop_reason"], old["ended_by"], old["energy_wh"]) == ("ConnectorReused", "voltline", 3_000)
    assert "7002" in old["end_detail"]
    assert (await sessions_of(service, "CP16-REUSE"))["7002"]["status"] == "active"
    events = await service.events.wait(old["session_id"], lambda e: bool(ended(e)))
    [last] = ended(events)
    assert (last["stop_reason"], last["ended_by"], last["energy_wh"], last["closed_by_operator"]) == (
        "ConnectorReused", "voltline", 3_000, False,
    )  # fmt: skip


async def test_after_a_reboot_sessions_the_station_does_not_confirm_end(service: RunningSession, gateway: Any) -> None:
    fake, stations = gateway
    cp = await online(service, "CP16-REBOOT")
    begin = _now() - timedelta(minutes=30)
    await cp.tx("started", "8001", begin, connector_id=1, id_tag="CARD-A", meter_start_wh=100)
    await cp.tx("started", "8002", begin, connector_id=2, id_tag="CARD-B", meter_start_wh=200)
    await cp.tx(
        "updated", "8002", begin + timedelta(minutes=5), meter_values=[energy(begin + timedelta(minutes=5), 900)]
    )

    async def station(command: StationCommand) -> StationCommandResult:
        # After the reboot only the transaction on connector 1 survived: asked, it sends its MeterValues.
        if command.action == "TriggerMessage" and command.payload.get("connectorId") == 1:
            at = _now()
            _soon(cp.tx("updated", "8001", at, connector_id=1, meter_values=[energy(at, 2_100)]))
        return answer(command, {"status": "Accepted"})

    stations.behaviour["CP16-REBOOT"] = station
    await wait_tx(service, "CP16-REBOOT", "8002", lambda s: s["status"] == "active")
    await boot(cp)
    lost = await wait_tx(service, "CP16-REBOOT", "8002", completed)
    assert (lost["stop_reason"], lost["ended_by"], lost["energy_wh"]) == ("StationRebooted", "voltline", 700)
    kept = (await sessions_of(service, "CP16-REBOOT"))["8001"]
    # confirmed by its MeterValues: no longer in doubt for the reboot (silence, 8 s here, may follow later)
    assert (kept["status"], kept["doubt"] != "rebooted", kept["energy_wh"]) == ("active", True, 2_000)
    asked = [(c.action, c.payload) for sid, c in fake.requests if sid == "CP16-REBOOT"]
    assert ("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 2}) in asked


async def test_2x_station_that_does_not_know_the_transaction_after_a_reboot(
    service: RunningSession, gateway: Any
) -> None:
    _, stations = gateway
    cp = await online(service, "CP201-REBOOT", "ocpp2.0.1")
    begin = _now() - timedelta(minutes=30)
    await cp.tx("started", "rb-1", begin, seq_no=0, evse_id=1, connector_id=1, meter_values=[energy(begin, 5_000)])

    async def station(command: StationCommand) -> StationCommandResult:
        return answer(command, {"ongoingIndicator": False, "messagesInQueue": False})

    stations.behaviour["CP201-REBOOT"] = station
    await wait_tx(service, "CP201-REBOOT", "rb-1", lambda s: s["status"] == "active")
    await boot(cp)
    done = await wait_tx(service, "CP201-REBOOT", "rb-1", completed)
    assert (done["stop_reason"], done["ended_by"]) == ("StationRebooted", "voltline")
    assert "GetTransactionStatus" in done["end_detail"]


async def test_a_silent_session_is_checked_then_ended_unconfirmed(service: RunningSession, gateway: Any) -> None:
    _, stations = gateway
    cp = await online(service, "CP201-SILENT", "ocpp2.0.1")
    begin = _now() - timedelta(hours=3)

    async def station(command: StationCommand) -> StationCommandResult | None:
        return None  # the station never answers the check

    stations.behaviour["CP201-SILENT"] = station
    at = begin + timedelta(minutes=1)
    await cp.tx("started", "sl-1", begin, seq_no=0, evse_id=1, meter_values=[energy(begin, 1_000)])
    await cp.tx("updated", "sl-1", at, seq_no=1, meter_values=[energy(at, 1_500)])
    done = await wait_tx(service, "CP201-SILENT", "sl-1", completed)
    assert (done["stop_reason"], done["ended_by"], done["energy_wh"]) == ("Unconfirmed", "voltline", 500)
    assert done["ended_at"].startswith(at.strftime("%Y-%m-%dT%H:%M:%S"))  # at its last known reading


@pytest.mark.parametrize(
    ("version", "tx_id", "rejection"),
    [
        ("ocpp1.6", "9001", {"status": "Rejected"}),
        ("ocpp2.0.1", "tx-nf", {"status": "Rejected", "statusInfo": {"reasonCode": "TxNotFound"}}),
    ],
)
async def test_a_stop_the_station_rejects_for_an_unknown_transaction_ends_the_session(
    service: RunningSession, gateway: Any, version: str, tx_id: str, rejection: dict[str, Any]
) -> None:
    _, stations = gateway
    station_id = f"CP-NF-{version[4:].replace('.', '')}"
    cp = await online(service, station_id, version)
    begin = _now() - timedelta(minutes=5)
    await cp.tx("started", tx_id, begin, seq_no=0 if version != "ocpp1.6" else None, connector_id=1, evse_id=1)

    async def station(command: StationCommand) -> StationCommandResult:
        return answer(command, rejection)

    stations.behaviour[station_id] = station
    session = await wait_tx(service, station_id, tx_id, lambda s: s["status"] == "active")
    stop = await service.api.post(f"/api/v1/sessions/{session['session_id']}/remote-stop", headers=ADMIN)
    assert stop.status_code == 409, stop.text
    assert stop.json()["session_ended_reason"] == "UnknownToStation"
    done = await wait_tx(service, station_id, tx_id, completed)
    assert (done["stop_reason"], done["ended_by"]) == ("UnknownToStation", "voltline")


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_start_the_csms_refused_is_never_an_active_session(service: RunningSession, version: str) -> None:
    station_id = f"CP-REFUSED-{version[4:].replace('.', '')}"
    cp = service.station(station_id, version)
    begin = _now()
    extra = {"seq_no": 0, "evse_id": 1} if version != "ocpp1.6" else {"meter_start_wh": 10}
    await cp.tx("started", "4040", begin, connector_id=1, id_tag="STOLEN", **extra)
    await cp.send(
        TransactionRefused(
            ocpp_version=version, transaction_id="4040", id_token=IdToken(id_token="STOLEN"), status="Blocked",
            timestamp=begin,
        )  # type: ignore[arg-type]
    )  # fmt: skip
    done = await wait_tx(service, station_id, "4040", completed)
    assert (done["stop_reason"], done["ended_by"], done["energy_wh"]) == ("NotAuthorized", "voltline", 0)
    assert "Blocked" in done["end_detail"]
    live = await service.api.get("/api/v1/sessions/active", params={"station_id": station_id}, headers=ADMIN)
    assert live.json()["items"] == []
