"""Operator commands end to end: the diagnostics API, the gateway and simulated 1.6, 2.0.1 and 2.1 stations.

Every command family reaches the station with the payload of its version and the answer is recorded; a
command for an offline station fails at once; one that may wait for its station is sent when it boots.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from e2e_support import RunningSystem
from maintenance_support import client, connected, register
from voltline_devinfra.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

CV = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
ANSWERS_16: dict[str, Any] = {
    "Reset": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "ChangeAvailability": {"status": "Scheduled"},
    "TriggerMessage": {"status": "Accepted"},
    "ExtendedTriggerMessage": {"status": "Accepted"},
    "ClearCache": {"status": "Rejected"},
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "GetConfiguration": {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
    "ChangeConfiguration": {"status": "RebootRequired"},
    "GetInstalledCertificateIds": {"status": "NotFound"},
    "GetLocalListVersion": {"listVersion": 3},
}
ANSWERS_2X: dict[str, Any] = {
    "Reset": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "ChangeAvailability": {"status": "Scheduled"},
    "TriggerMessage": {"status": "Accepted"},
    "ClearCache": {"status": "Rejected"},
    "DataTransfer": {"status": "Accepted", "data": {"pong": True}},
    "GetVariables": {"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "300", **CV}]},
    "SetVariables": {"setVariableResult": [{"attributeStatus": "RebootRequired", **CV}]},
    "GetBaseReport": {"status": "Accepted"},
    "GetReport": {"status": "EmptyResultSet"},
    "SetVariableMonitoring": {
        "setMonitoringResult": [{"status": "Accepted", "type": "UpperThreshold", "severity": 5, **CV}]
    },
    "ClearVariableMonitoring": {"clearMonitoringResult": [{"status": "Accepted", "id": 7}]},
    "SetMonitoringBase": {"status": "Accepted"},
    "SetMonitoringLevel": {"status": "Accepted"},
    "CustomerInformation": {"status": "Accepted"},
    "GetInstalledCertificateIds": {"status": "NotFound"},
    "GetLocalListVersion": {"versionNumber": 3},
}
MONITOR = {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": 600, "type": "UpperThreshold"}

# (command, body, {version: (action, expected payload or None when refused before sending, status)})
Case = tuple[str, dict[str, Any], dict[str, tuple[str | None, dict[str, Any] | None, str]]]
TWO_X = ("ocpp2.0.1", "ocpp2.1")


def both(action: str, payload: dict[str, Any], status: str) -> dict[str, tuple[str | None, dict[str, Any] | None, str]]:
    return {v: (action, payload, status) for v in TWO_X}


def only_2x(action: str, payload: dict[str, Any], status: str) -> dict[str, tuple[str | None, Any, str]]:
    return {"ocpp1.6": (None, None, "not_supported"), **both(action, payload, status)}


CASES: list[Case] = [
    (
        "raw",
        {"action": "GetLocalListVersion", "payload": {}},
        {"ocpp1.6": ("GetLocalListVersion", {}, "accepted"), **both("GetLocalListVersion", {}, "accepted")},
    ),
    (
        "reset",
        {"type": "hard"},
        {"ocpp1.6": ("Reset", {"type": "Hard"}, "accepted"), **both("Reset", {"type": "Immediate"}, "accepted")},
    ),
    (
        "reset",
        {"type": "soft"},
        {"ocpp1.6": ("Reset", {"type": "Soft"}, "accepted"), **both("Reset", {"type": "OnIdle"}, "accepted")},
    ),
    (
        "unlock",
        {"evse_id": 2, "connector_id": 1},
        {
            "ocpp1.6": ("UnlockConnector", {"connectorId": 1}, "accepted"),
            **both("UnlockConnector", {"evseId": 2, "connectorId": 1}, "accepted"),
        },
    ),
    (
        "availability",
        {"operative": False, "evse_id": 1},
        {
            "ocpp1.6": ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, "accepted"),
            **both("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}, "accepted"),
        },
    ),
    (
        "trigger",
        {"message": "status_notification", "connector_id": 1},
        {
            "ocpp1.6": ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, "accepted"),
            **both("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}, "accepted"),
        },
    ),
    (
        "trigger",
        {"message": "log_status"},
        {
            "ocpp1.6": ("ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"}, "accepted"),
            **both("TriggerMessage", {"requestedMessage": "LogStatusNotification"}, "accepted"),
        },
    ),
    (
        "clear-cache",
        {},
        {"ocpp1.6": ("ClearCache", {}, "rejected"), **both("ClearCache", {}, "rejected")},
    ),
    (
        "data-transfer",
        {"vendor_id": "com.acme", "message_id": "ping", "data": {"n": 1}},
        {
            "ocpp1.6": ("DataTransfer", {"vendorId": "com.acme", "messageId": "ping", "data": '{"n":1}'}, "accepted"),
            **both("DataTransfer", {"vendorId": "com.acme", "messageId": "ping", "data": {"n": 1}}, "accepted"),
        },
    ),
    (
        "get-configuration",
        {"keys": ["heartbeat_interval"]},
        {
            "ocpp1.6": ("GetConfiguration", {"key": ["HeartbeatInterval"]}, "accepted"),
            **both("GetVariables", {"getVariableData": [CV]}, "accepted"),
        },
    ),
    (
        "set-configuration",
        {"key": "heartbeat_interval", "value": "600"},
        {
            "ocpp1.6": ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "600"}, "accepted"),
            **both("SetVariables", {"setVariableData": [{"attributeValue": "600", **CV}]}, "accepted"),
        },
    ),
    (
        "get-variables",
        {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]},
        only_2x("GetVariables", {"getVariableData": [CV]}, "accepted"),
    ),
    (
        "set-variables",
        {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "60"}]},
        only_2x("SetVariables", {"setVariableData": [{"attributeValue": "60", **CV}]}, "accepted"),
    ),
    (
        "get-base-report",
        {"report_base": "full_inventory"},
        only_2x("GetBaseReport", {"reportBase": "FullInventory"}, "accepted"),
    ),
    (
        "get-report",
        {"component_criteria": ["Problem"]},
        only_2x("GetReport", {"componentCriteria": ["Problem"]}, "accepted"),
    ),
    (
        "set-variable-monitoring",
        {"monitors": [{**MONITOR, "severity": 5}]},
        only_2x(
            "SetVariableMonitoring",
            {"setMonitoringData": [{"value": 600.0, "type": "UpperThreshold", "severity": 5, **CV}]},
            "accepted",
        ),
    ),
    ("clear-variable-monitoring", {"ids": [7]}, only_2x("ClearVariableMonitoring", {"id": [7]}, "accepted")),
    (
        "set-monitoring-base",
        {"base": "factory_default"},
        only_2x("SetMonitoringBase", {"monitoringBase": "FactoryDefault"}, "accepted"),
    ),
    ("set-monitoring-level", {"severity": 4}, only_2x("SetMonitoringLevel", {"severity": 4}, "accepted")),
    (
        "customer-information",
        {"report": True, "clear": False, "customer_identifier": "cust-1"},
        only_2x("CustomerInformation", {"report": True, "clear": False, "customerIdentifier": "cust-1"}, "accepted"),
    ),
    (
        "get-installed-certificates",
        {"certificate_types": ["csms_root"]},
        {
            "ocpp1.6": ("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}, "accepted"),
            **both("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]}, "accepted"),
        },
    ),
]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_every_command_family_reaches_the_station_in_its_version(system: RunningSystem, version: str) -> None:
    station_id = f"CP-MT-{version.removeprefix('ocpp').replace('.', '')}"
    await register(system, station_id)
    answers = ANSWERS_16 if version == "ocpp1.6" else ANSWERS_2X
    async with connected(system, station_id, version, answers) as cp, client(system, "diagnostics") as api:
        await cp.boot()
        # The first command may wait for the presence feed to show the station: it is sent once it does.
        first = await api.post(
            f"/stations/{station_id}/commands/trigger", json={"message": "heartbeat", "wait_for_station_s": 30}
        )
        assert first.status_code in (200, 202), first.text
        for command, body, expected in CASES:
            action, payload, status = expected[version]
            response = await api.post(f"/stations/{station_id}/commands/{command}", json=body)
            if action is None:
                assert response.status_code == 409, response.text
                assert response.json()["code"] == "not_supported" and response.json()["command_status"] == status
                continue
            assert response.status_code == 200, (command, response.text)
            record = response.json()
            assert (record["status"], record["action"], record["ocpp_version"]) == (status, action, version), record
            sent = cp.last(action)
            assert {k: sent.get(k) for k in payload} == payload, (command, sent)
            assert record["response"] == answers[action], record
            assert record["requested_by"] == "bootstrap-admin" and record["answered_at"] is not None
            polled = (await api.get(f"/commands/{record['command_id']}")).json()
            assert polled["status"] == status and polled["response"] == answers[action]
        reboot = (await api.get("/commands", params={"station_id": station_id, "command": "set-configuration"})).json()
        assert reboot["items"][0]["reboot_required"] is True
        # A CallError NotImplemented (no answer configured for the action) is recorded as not_supported.
        cp.answers.pop("ClearCache")
        unsupported = await api.post(f"/stations/{station_id}/commands/clear-cache")
        assert unsupported.status_code == 200 and unsupported.json()["status"] == "not_supported", unsupported.text
        audit = (await api.get("/commands", params={"station_id": station_id})).json()
        assert len(audit["items"]) == len(CASES) + 2 and audit["next_offset"] is None
        first = (await api.get("/commands", params={"station_id": station_id, "limit": 2})).json()
        assert [c["command_id"] for c in first["items"]] == [c["command_id"] for c in audit["items"][:2]]
        assert first["next_offset"] == 2  # the paging convention of every list (README "Lists and paging")


async def test_a_command_for_an_offline_station_fails_fast(system: RunningSystem) -> None:
    await register(system, "CP-MT-GONE")
    async with client(system, "diagnostics") as api:
        async with connected(system, "CP-MT-GONE", "ocpp1.6", ANSWERS_16) as cp:
            await cp.boot()
            ok = await api.post("/stations/CP-MT-GONE/commands/reset", json={"type": "soft", "wait_for_station_s": 30})
            assert ok.status_code == 200, ok.text

        async def refused() -> bool:
            started = time.monotonic()
            response = await api.post("/stations/CP-MT-GONE/commands/reset", json={"type": "soft"})
            assert time.monotonic() - started < 5
            return response.status_code == 409 and response.json()["code"] == "station_offline"

        await eventually(refused)
        never = await api.post("/stations/CP-MT-NEVER/commands/unlock", json={"connector_id": 1})
        assert never.status_code == 409 and "never seen" in never.json()["detail"], never.text
        record = (await api.get(f"/commands/{never.json()['command_id']}")).json()
        assert record["status"] == "station_offline" and record["sent_at"] is None


async def test_a_command_may_wait_for_its_station_to_come_back(system: RunningSystem) -> None:
    await register(system, "CP-MT-LATE")
    async with client(system, "diagnostics") as api:
        request = asyncio.create_task(
            api.post("/stations/CP-MT-LATE/commands/reset", json={"type": "hard", "wait_for_station_s": 60})
        )
        async with connected(system, "CP-MT-LATE", "ocpp2.0.1", ANSWERS_2X) as cp:
            await cp.boot()
            response = await request
            assert response.status_code in (200, 202), response.text
            command_id = response.json()["command_id"]

            async def accepted() -> bool:
                return bool((await api.get(f"/commands/{command_id}")).json()["status"] == "accepted")

            await eventually(accepted)
            assert cp.last("Reset") == {"type": "Immediate"}


async def test_the_audit_log_names_the_api_key_and_viewers_cannot_command(system: RunningSystem) -> None:
    async with client(system, "auth") as auth, client(system, "diagnostics") as api:
        keys = {}
        for name, role in (("ops-alice", "operator"), ("wallboard", "viewer")):
            created = await auth.post("/api-keys", json={"name": name, "role": role})
            assert created.status_code == 201, created.text
            keys[name] = {"Authorization": f"Bearer {created.json()['key']}"}
        body = {"type": "soft"}

        async def sent_by_alice() -> bool:
            response = await api.post("/stations/CP-MT-AUDIT/commands/reset", json=body, headers=keys["ops-alice"])
            return response.status_code == 409

        await eventually(sent_by_alice)  # once the diagnostics service has the new key
        audit = (await api.get("/commands", params={"station_id": "CP-MT-AUDIT"})).json()["items"]
        assert audit[0]["requested_by"].startswith("ops-alice (api-key:"), audit[0]

        async def viewer_refused() -> bool:
            response = await api.post("/stations/CP-MT-AUDIT/commands/reset", json=body, headers=keys["wallboard"])
            return response.status_code == 403

        await eventually(viewer_refused)


async def test_bad_bodies_name_the_field(system: RunningSystem) -> None:
    async with client(system, "diagnostics") as api:
        response = await api.post("/stations/CP-MT-X/commands/reset", json={"type": "sideways"})
        assert response.status_code == 422 and "type" in response.text
        response = await api.post("/stations/CP-MT-X/commands/unlock", json={})
        assert response.status_code == 422 and "connector_id" in response.text
