"""Bulk commands and configuration profiles end to end: selection by model and ids with progress; drift from
the stations' answers, push of the difference in each station's version, RebootRequired and the reboot."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem
from maintenance_support import SimStation, client, connected, register
from voltline_devinfra.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

CV = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


def configurable(version: str, state: dict[str, str]) -> dict[str, Any]:
    """Answers of a station keeping a heartbeat interval: 1.6 needs a reboot to apply it, 2.x does not."""
    if version == "ocpp1.6":

        def change(p: dict[str, Any]) -> dict[str, Any]:
            state[p["key"]] = p["value"]
            return {"status": "RebootRequired"}

        return {
            "TriggerMessage": {"status": "Accepted"},
            "Reset": {"status": "Accepted"},
            "GetConfiguration": lambda p: {
                "configurationKey": [{"key": k, "readonly": False, "value": state[k]} for k in p.get("key", state)]
            },
            "ChangeConfiguration": change,
        }

    def set_variables(p: dict[str, Any]) -> dict[str, Any]:
        state["HeartbeatInterval"] = p["setVariableData"][0]["attributeValue"]
        return {"setVariableResult": [{"attributeStatus": "Accepted", **CV}]}

    return {
        "TriggerMessage": {"status": "Accepted"},
        "Reset": {"status": "Accepted"},
        "GetVariables": lambda p: {
            "getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": state["HeartbeatInterval"], **CV}]
        },
        "SetVariables": set_variables,
    }


async def finished(api: httpx.AsyncClient, bulk_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def check() -> bool:
        found.update((await api.get(f"/bulk-commands/{bulk_id}")).json())
        return bool(found["done"] == found["total"])

    await eventually(check)
    return found


async def test_bulk_commands_and_a_configuration_profile(system: RunningSystem) -> None:
    fleet = {"CP-BK-A": ("ocpp1.6", "BK-22"), "CP-BK-B": ("ocpp2.0.1", "BK-22"), "CP-BK-C": ("ocpp1.6", "BK-Other")}
    await register(system, *fleet)
    states = {sid: {"HeartbeatInterval": "300"} for sid in fleet}
    async with contextlib.AsyncExitStack() as stack, client(system, "diagnostics") as api:
        cps: dict[str, SimStation] = {}
        for sid, (version, model) in fleet.items():
            cp = await stack.enter_async_context(connected(system, sid, version, configurable(version, states[sid])))
            boot = await cp.call(
                "BootNotification",
                {"chargePointVendor": "ACME", "chargePointModel": model}
                if version == "ocpp1.6"
                else {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": model}},
            )
            assert boot["status"] == "Accepted"
            cps[sid] = cp
            warm = await api.post(f"/stations/{sid}/commands/clear-cache", json={"wait_for_station_s": 30})
            assert warm.status_code in (200, 202), warm.text

        async def models_known() -> bool:
            items = (await api.get("/station-firmware", params={"model": "BK-22"})).json()["items"]
            return len(items) == 2

        await eventually(models_known)

        started = await api.post(
            "/bulk-commands/trigger", json={"selection": {"model": "BK-22"}, "body": {"message": "heartbeat"}}
        )
        assert started.status_code == 202, started.text
        done = await finished(api, started.json()["bulk_id"])
        assert (done["total"], done["progress"]) == (2, {"accepted": 2})
        assert not [a for a, _ in cps["CP-BK-C"].received if a == "TriggerMessage"]

        mixed = await api.post(
            "/bulk-commands/reset",
            json={"selection": {"station_ids": ["CP-BK-A", "CP-BK-NEVER"]}, "body": {"type": "soft"}},
        )
        done = await finished(api, mixed.json()["bulk_id"])
        assert done["progress"] == {"accepted": 1, "station_offline": 1}
        # 1.6 cannot reset one EVSE: recorded failed for that station, sent to the 2.x one.
        per_evse = await api.post(
            "/bulk-commands/reset", json={"selection": {"model": "BK-22"}, "body": {"type": "soft", "evse_id": 1}}
        )
        done = await finished(api, per_evse.json()["bulk_id"])
        assert done["progress"] == {"accepted": 1, "failed": 1}, done
        assert cps["CP-BK-B"].last("Reset") == {"type": "OnIdle", "evseId": 1}
        bad = await api.post("/bulk-commands/reset", json={"selection": {"model": "BK-22"}, "body": {"type": "x"}})
        assert bad.status_code == 422

        profile = {"model": "BK-22", "settings": {"heartbeat_interval": "600"}}
        assert (await api.put("/configuration-profiles/volt", json=profile)).status_code == 200
        await finished(api, (await api.post("/configuration-profiles/volt/check")).json()["bulk_id"])
        drift = (await api.get("/configuration-profiles/volt/drift")).json()
        assert (drift["in_sync"], drift["drifting"]) == (0, 2), drift
        assert {i["station_id"]: i["settings"][0]["key"] for i in drift["items"]} == {
            "CP-BK-A": "HeartbeatInterval",
            "CP-BK-B": "OCPPCommCtrlr.HeartbeatInterval",
        }
        assert all(i["settings"][0]["reported"] == "300" for i in drift["items"])

        pushed = await finished(api, (await api.post("/configuration-profiles/volt/push")).json()["bulk_id"])
        assert pushed["progress"] == {"accepted": 2}
        assert cps["CP-BK-A"].last("ChangeConfiguration") == {"key": "HeartbeatInterval", "value": "600"}
        assert cps["CP-BK-B"].last("SetVariables") == {"setVariableData": [{"attributeValue": "600", **CV}]}
        drift = (await api.get("/configuration-profiles/volt/drift")).json()
        assert (drift["in_sync"], drift["drifting"]) == (2, 0), drift
        needs_reboot = {i["station_id"] for i in drift["items"] if i["reboot_required"]}
        assert needs_reboot == {"CP-BK-A"}

        rebooted = await finished(api, (await api.post("/configuration-profiles/volt/reboot")).json()["bulk_id"])
        assert rebooted["progress"] == {"accepted": 1} and cps["CP-BK-A"].last("Reset") == {"type": "Soft"}
        await cps["CP-BK-A"].boot(model="BK-22")

        async def reboot_done() -> bool:
            items = (await api.get("/configuration-profiles/volt/drift")).json()["items"]
            return not any(i["reboot_required"] for i in items)

        await eventually(reboot_done)
