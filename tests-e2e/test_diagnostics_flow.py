"""Diagnostics end to end: real OCPP 1.6, 2.0.1 and 2.1 stations through the gateway, every service its own
process over real Kafka and PostgreSQL, a real HTTP receiver for the signed webhooks.

Per version: boot → inventory (boot data; 2.x device model from NotifyReport after the GetBaseReport the
service sends on a first boot; 1.6 GetConfiguration), a connector Faulted → status and an open alert and a
signed webhook, recovery → resolved; a silent open socket → unresponsive; a disconnect → offline and an alert.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem, start_system
from ocpp_client import station
from test_session_flow import BOOT_16, BOOT_201, Charger, rfc3339
from test_session_support import eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "diagnostics" / "tests"))
from diagnostics_testing import Receiver
from voltline_diagnostics.domain.webhooks import verify

pytestmark = pytest.mark.asyncio(loop_scope="module")
SECRET = "e2e-webhook-secret-0123456789"
DIAGNOSTICS_ENV = {
    "VOLTLINE_ALERT_RULES": json.dumps({"station_offline": {"after_s": 1}}),
    "VOLTLINE_HEARTBEAT_INTERVAL_S": "1",
    "VOLTLINE_UNRESPONSIVE_FACTOR": "1",
    "VOLTLINE_UNRESPONSIVE_MIN_S": "3",
    "VOLTLINE_MONITOR_INTERVAL_S": "0.3",
    "VOLTLINE_INVENTORY_DELAY_S": "0.5",
    "VOLTLINE_WEBHOOK_POLL_S": "0.2",
}


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    yield from start_system(
        kafka,
        postgres,
        tmp_path_factory.mktemp("diagnostics"),
        # The heartbeat interval the stations are told at boot (auth's) is the one diagnostics judges silence by.
        extra_env={"diagnostics": DIAGNOSTICS_ENV, "auth": {"VOLTLINE_HEARTBEAT_INTERVAL_S": "1"}},
    )


def api(system: RunningSystem, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{system.url(service)}/api/v1", headers=system.headers, timeout=30)


REPORT = {
    "generatedAt": "2026-12-01T00:00:00Z",
    "seqNo": 0,
    "reportData": [
        {
            "component": {"name": "ChargingStation"},
            "variable": {"name": "Model"},
            "variableAttribute": [{"type": "Actual", "value": "Volt-22", "mutability": "ReadOnly"}],
            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
        },
        {
            "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
            "variable": {"name": "ConnectorType"},
            "variableAttribute": [{"type": "Actual", "value": "cType2", "mutability": "ReadOnly"}],
            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
        },
    ],
}
CONFIGURATION = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}


def status_call(version: str, status: str, error: str = "NoError") -> dict[str, Any]:
    if version == "ocpp1.6":
        return {"connectorId": 1, "errorCode": error, "status": status}
    from datetime import UTC, datetime

    return {"timestamp": rfc3339(datetime.now(UTC)), "connectorStatus": status, "evseId": 1, "connectorId": 1}


async def alert(diag: httpx.AsyncClient, station_id: str, rule: str, status: str = "open") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        items = (await diag.get("/alerts", params={"station_id": station_id, "status": status})).json()["items"]
        found = [a for a in items if a["rule"] == rule]
        return found[0] if found else None

    return await eventually(check, what=f"a {status} {rule} alert of {station_id}")


async def view(diag: httpx.AsyncClient, station_id: str, ready: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await diag.get(f"/stations/{station_id}/status")
        return r.json() if r.status_code == 200 and ready(r.json()) else None

    return await eventually(check, what=f"the status of {station_id}")


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_a_station_faults_recovers_goes_silent_and_offline(system: RunningSystem, version: str) -> None:
    sid = f"CP-DIAG-{version[4:].replace('.', '')}"
    receiver = await Receiver().start()
    try:
        async with api(system, "auth") as auth, api(system, "diagnostics") as diag:
            assert (await auth.post("/stations", json={"station_id": sid})).status_code == 201
            hook = {"url": receiver.url, "secret": SECRET, "station_ids": [sid]}
            assert (await diag.post("/webhooks", json=hook)).status_code == 201
            answers = {"GetBaseReport": {"status": "Accepted"}, "GetConfiguration": CONFIGURATION}
            async with station(system.ocpp_url, sid, version) as ws:
                cp = Charger(ws, answers)
                boot = BOOT_16 if version == "ocpp1.6" else BOOT_201
                assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
                if version != "ocpp1.6":
                    request = await cp.expect("GetBaseReport")
                    await cp.call("NotifyReport", {**REPORT, "requestId": request["requestId"]})
                await cp.call("StatusNotification", status_call(version, "Available"))
                await view(diag, sid, lambda v: [c["status"] for c in v["connectors"]] == ["Available"])
                # what the station was answered at boot (station.boot_answered from the gateway)
                await view(diag, sid, lambda v: (v["boot_status"], v["heartbeat_interval_s"]) == ("Accepted", 1))

                await cp.call("StatusNotification", status_call(version, "Faulted", "GroundFailure"))
                faulted = await view(diag, sid, lambda v: v["connectors"][0]["status"] == "Faulted")
                expected_code = "GroundFailure" if version == "ocpp1.6" else None
                assert faulted["connectors"][0]["error_code"] == expected_code
                opened = await alert(diag, sid, "connector_faulted")
                delivered = await eventually(
                    lambda: _now(receiver.of("diagnostics.alert_opened", opened["alert_id"])), what="the webhook"
                )
                assert verify(SECRET, delivered[0].headers["x-voltline-signature"], delivered[0].body)

                await cp.call("StatusNotification", status_call(version, "Available"))
                await alert(diag, sid, "connector_faulted", "resolved")

                inventory = (await diag.get(f"/stations/{sid}/inventory")).json()
                assert (inventory["vendor"], inventory["model"], inventory["ocpp_version"]) == (
                    "ACME",
                    "Volt-22",
                    version,
                )

                async def device_model() -> list[dict[str, Any]] | None:
                    items = (await diag.get(f"/stations/{sid}/device-model")).json()["items"]
                    return items or None

                variables = await eventually(device_model, what=f"the device model of {sid}")
                if version == "ocpp1.6":
                    assert [(v["variable"], v["value"]) for v in variables] == [("HeartbeatInterval", "300")]
                else:
                    assert {(v["component"], v["variable"], v["value"]) for v in variables} == {
                        ("ChargingStation", "Model", "Volt-22"),
                        ("Connector", "ConnectorType", "cType2"),
                    }

                await view(diag, sid, lambda v: v["health"] == "unresponsive")  # the socket is open, nothing said
                await alert(diag, sid, "station_unresponsive")
                await cp.call("Heartbeat", {})
                await alert(diag, sid, "station_unresponsive", "resolved")
                await cp.close()
            offline = await view(diag, sid, lambda v: v["health"] == "offline")
            assert offline["connectors"][0]["status"] == "Unknown"
            await alert(diag, sid, "station_offline")
    finally:
        await receiver.stop()


async def _now(value: Any) -> Any:
    await asyncio.sleep(0)
    return value
