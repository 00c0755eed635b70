"""What the gateway answered a station: the boot status and heartbeat interval in the station view, and
authorisations that never became a transaction (the authorized_not_started alert)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from diagnostics_testing import ADMIN, RunningDiagnostics, eventually
from voltline_events.payloads import AuthorizeAnswered, BootAnswered, BootNotification

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_the_boot_status_and_heartbeat_interval_are_in_the_station_view(
    service: RunningDiagnostics, version: str
) -> None:
    sid = f"CP-BOOT-{version}"
    cp = service.station(sid, version)
    await cp.connect()
    await cp.send(BootNotification(ocpp_version=version, vendor="ACME", model="B-1", raw={}))  # type: ignore[arg-type]
    await cp.send(BootAnswered(ocpp_version=version, status="Pending", interval=30, fallback=True))  # type: ignore[arg-type]

    async def shows(boot_status: str | None, interval: int) -> dict[str, Any] | None:
        view = await service.status(sid)
        wanted = view and (view["boot_status"], view["heartbeat_interval_s"]) == (boot_status, interval)
        return view if wanted else None

    # Pending: the interval is a retry delay, not the heartbeat interval (the default stays: 1 s in this module)
    await eventually(lambda: shows("Pending", 1), what=f"{sid} Pending")
    await cp.send(BootNotification(ocpp_version=version, vendor="ACME", model="B-1", raw={}))  # type: ignore[arg-type]
    await eventually(lambda: shows(None, 1), what=f"{sid}'s new boot, its answer not known yet")
    await cp.send(BootAnswered(ocpp_version=version, status="Accepted", interval=120))  # type: ignore[arg-type]
    view = await eventually(lambda: shows("Accepted", 120), what=f"{sid} Accepted with a 120 s heartbeat")
    assert view["health"] == "online" and view["model"] == "B-1"


async def test_authorised_starts_that_never_became_a_transaction_open_an_alert(service: RunningDiagnostics) -> None:
    sid = "CP-NOSTART"
    cp = service.station(sid)
    await cp.connect()
    now = datetime.now(UTC)
    accepted = AuthorizeAnswered(ocpp_version="ocpp1.6", status="Accepted")
    # Authorised, then started: not counted.
    await cp.send(accepted, time=now - timedelta(seconds=30))
    await cp.tx("started", "tx-ok", now - timedelta(seconds=29), connector_id=1, meter_start_wh=0)
    # A refused token never counts; three accepted ones (after_s is 1 s here) each without a transaction do.
    await cp.send(AuthorizeAnswered(ocpp_version="ocpp1.6", status="Invalid"), time=now - timedelta(seconds=20))
    for seconds in (10, 7, 4):
        await cp.send(accepted, time=now - timedelta(seconds=seconds))
    alert = await service.wait_alert(sid, "authorized_not_started")  # the third is counted by the monitor
    assert alert["detail"]["unused_authorizations"] == 3 and alert["severity"] == "major"
    assert alert["evse_id"] is None
    await cp.send(accepted)
    await cp.tx("started", "tx-2", datetime.now(UTC), connector_id=1, meter_start_wh=0)
    await service.wait_alert(sid, "authorized_not_started", "resolved")
    rules = (await service.api.get("/api/v1/alert-rules", headers=ADMIN)).json()["items"]
    rule = next(r for r in rules if r["name"] == "authorized_not_started")
    assert (rule["count"], rule["after_s"], rule["enabled"]) == (3, 1, True)
