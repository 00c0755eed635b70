"""The embedded default store (SQLite, as under `make run`) runs the same health logic, with the monitor, the
webhook worker and the consumer writing at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from diagnostics_testing import ADMIN, Receiver, eventually, run_service
from voltline_events.payloads import ConnectorStatus


@pytest.mark.asyncio(loop_scope="function")
async def test_fault_alert_webhook_offline_and_uptime_on_sqlite(kafka: Any, sqlite_url: str) -> None:
    receiver = await Receiver().start()
    try:
        async for service in run_service(kafka, sqlite_url, alert_rules={"station_offline": {"after_s": 1}}):
            hook = {"url": receiver.url, "secret": "sqlite-secret-0123456789"}
            assert (await service.api.post("/api/v1/webhooks", json=hook, headers=ADMIN)).status_code == 201
            cp = service.station("CP-LITE")
            start = datetime.now(UTC) - timedelta(seconds=1)
            await cp.connect()
            await cp.send(
                ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Faulted", error_code="Mode3Error")
            )
            alert_id = (await service.wait_alert("CP-LITE", "connector_faulted"))["alert_id"]
            await eventually(lambda a=alert_id: _now(receiver.of("diagnostics.alert_opened", a)), what="webhook")
            await cp.status(0, "Available")
            await service.wait_alert("CP-LITE", "connector_faulted", "resolved")
            await cp.disconnect()
            await service.wait_alert("CP-LITE", "station_offline")
            params = {"station_id": "CP-LITE", "from": start.isoformat(), "to": datetime.now(UTC).isoformat()}
            uptime = (await service.api.get("/api/v1/uptime", params=params, headers=ADMIN)).json()
            assert 0 < uptime["outage_s"] <= uptime["period_s"] and uptime["outages"]
    finally:
        await receiver.stop()


async def _now(value: Any) -> Any:
    return value
