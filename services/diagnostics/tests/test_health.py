"""Live status, history, offline/unresponsive stations, alerts and signed webhooks, over real Kafka and PostgreSQL.

Stations are simulated as the gateway's events (the contract this service consumes); the end-to-end tests in
tests-e2e drive real OCPP stations through the gateway.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from diagnostics_testing import ADMIN, Receiver, RunningDiagnostics, eventually
from voltline_devinfra.api_probes import list_routes_refuse_huge_offsets
from voltline_diagnostics.domain.webhooks import verify
from voltline_events.payloads import (
    BootNotification,
    ConnectorStatus,
    DeviceEvents,
    FirmwareStatus,
    SecurityEvent,
)
from voltline_events.payloads.notifications import ComponentRef, DeviceEvent, VariableRef

pytestmark = pytest.mark.asyncio(loop_scope="module")
SECRET = "webhook-secret-0123456789"


def faulted(version: str, connector: int, code: str | None, evse: int | None = None) -> ConnectorStatus:
    return ConnectorStatus(
        ocpp_version=version,  # type: ignore[arg-type]
        evse_id=evse,
        connector_id=connector,
        status="Faulted",
        error_code=code,
        vendor_error_code="V-17" if code else None,
    )


async def connector(service: RunningDiagnostics, station_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        view = await service.status(station_id)
        found = [c for c in (view or {}).get("connectors", []) if c["status"] == status]
        return found[0] if found else None

    return await eventually(check, what=f"a connector of {station_id} {status}")


async def test_16_fault_opens_an_alert_and_a_signed_webhook_and_recovery_resolves_it(
    service: RunningDiagnostics, receiver: Receiver
) -> None:
    hook = await service.api.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "secret": SECRET, "rules": ["connector_faulted"]},
        headers=ADMIN,
    )
    assert hook.status_code == 201, hook.text
    assert "secret" not in hook.json()
    cp = service.station("CP16-F")
    await cp.connect()
    await cp.status(0, "Available", connector_id=1)
    await connector(service, "CP16-F", "Available")
    await cp.send(faulted("ocpp1.6", 1, "GroundFailure"))
    port = await connector(service, "CP16-F", "Faulted")
    assert (port["ocpp_status"], port["error_code"], port["vendor_error_code"]) == ("Faulted", "GroundFailure", "V-17")
    alert = await service.wait_alert("CP16-F", "connector_faulted")
    assert (alert["evse_id"], alert["connector_id"], alert["severity"]) == (1, 1, "critical")
    assert alert["detail"]["error_code"] == "GroundFailure"

    # the receiver fails the first call: it is retried, and the delivery log shows both attempts
    deliveries_url = f"/api/v1/webhooks/{hook.json()['webhook_id']}/deliveries"

    async def delivered() -> dict[str, Any] | None:
        log = (await service.api.get(deliveries_url, headers=ADMIN)).json()["items"]
        mine = [d for d in log if d["alert_id"] == alert["alert_id"] and d["status"] == "delivered"]
        return mine[0] if mine else None

    first = await eventually(delivered, what="the opened alert's webhook delivered")
    assert (first["event_type"], first["attempts"], first["last_status_code"]) == ("diagnostics.alert_opened", 2, 200)
    attempts = receiver.of("diagnostics.alert_opened", alert["alert_id"])
    assert len(attempts) == 2
    for request in attempts:
        assert verify(SECRET, request.headers["x-voltline-signature"], request.body)
        assert not verify("another-secret-0123456789", request.headers["x-voltline-signature"], request.body)
    assert attempts[-1].json()["alert"]["rule"] == "connector_faulted"

    await cp.status(1, "Available", connector_id=1)
    resolved = await service.wait_alert("CP16-F", "connector_faulted", "resolved")
    assert resolved["alert_id"] == alert["alert_id"] and resolved["resolved_by"] is None
    await eventually(lambda: _async(receiver.of("diagnostics.alert_resolved", alert["alert_id"])), what="webhook")
    history = (await service.api.get("/api/v1/stations/CP16-F/history", headers=ADMIN)).json()["items"]
    assert [(h["status"], h["error_code"]) for h in history] == [
        ("Available", None),
        ("Faulted", "GroundFailure"),
        ("Available", None),
    ]
    assert history[0]["to"] == history[1]["from"] and history[-1]["to"] is None


async def _async(value: Any) -> Any:
    return value


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
async def test_2x_fault_and_device_problem(service: RunningDiagnostics, version: str) -> None:
    sid = f"CP{version[-3:].replace('.', '')}-F"
    cp = service.station(sid, version)
    await cp.connect()
    await cp.status(0, "Occupied", connector_id=1, evse_id=1)
    await connector(service, sid, "Occupied")
    await cp.send(faulted(version, 1, None, evse=1))
    await connector(service, sid, "Faulted")
    await service.wait_alert(sid, "connector_faulted")
    problem = DeviceEvent(
        event_id=1,
        timestamp=datetime.now(UTC),
        trigger="Delta",
        actual_value="true",
        tech_code="E-RCD",
        component=ComponentRef(name="ConnectorPlugRetentionLock", evse_id=1, connector_id=1),
        variable=VariableRef(name="Problem"),
        event_notification_type="HardWiredNotification",
    )
    notify = DeviceEvents(ocpp_version=version, generated_at=datetime.now(UTC), seq_no=0, events=[problem])  # type: ignore[arg-type]
    await cp.send(notify)
    alert = await service.wait_alert(sid, "device_problem")
    assert alert["subject"] == "ConnectorPlugRetentionLock.Problem" and alert["detail"]["tech_code"] == "E-RCD"
    cleared = problem.model_copy(update={"actual_value": "false", "event_id": 2})
    await cp.send(notify.model_copy(update={"events": [cleared], "seq_no": 1}))
    await service.wait_alert(sid, "device_problem", "resolved")
    await cp.status(1, "Available", connector_id=1, evse_id=1)
    await service.wait_alert(sid, "connector_faulted", "resolved")


async def test_disconnect_is_offline_at_once_and_alerts_after_the_threshold(service: RunningDiagnostics) -> None:
    cp = service.station("CP-OFF")
    await cp.connect()
    await cp.status(0, "Available", connector_id=1)
    await connector(service, "CP-OFF", "Available")
    await cp.disconnect()
    port = await connector(service, "CP-OFF", "Unknown")
    assert port["ocpp_status"] == "Available"  # the last report is kept
    view = await service.status("CP-OFF")
    assert view is not None and (view["online"], view["health"]) == (False, "offline")
    alert = await service.wait_alert("CP-OFF", "station_offline")
    assert alert["severity"] == "major"
    await cp.connect()
    await service.wait_alert("CP-OFF", "station_offline", "resolved")
    await connector(service, "CP-OFF", "Available")


async def test_a_silent_open_connection_is_unresponsive_until_heard(service: RunningDiagnostics) -> None:
    cp = service.station("CP-GHOST")
    await cp.connect()

    async def health(expected: str) -> dict[str, Any] | None:
        view = await service.status("CP-GHOST")
        return view if view and view["health"] == expected else None

    await eventually(lambda: health("unresponsive"), what="CP-GHOST unresponsive")
    await service.wait_alert("CP-GHOST", "station_unresponsive")
    view = await service.status("CP-GHOST")
    assert view is not None and view["online"] is True
    await cp.send(FirmwareStatus(ocpp_version="ocpp1.6", status="Idle"))
    await service.wait_alert("CP-GHOST", "station_unresponsive", "resolved")


async def test_acknowledge_then_resolve_by_hand_and_the_lifecycle_is_kept(service: RunningDiagnostics) -> None:
    cp = service.station("CP-SEC", "ocpp2.0.1")
    await cp.connect()
    event = SecurityEvent(ocpp_version="ocpp2.0.1", event_type="TamperDetectionActivated", timestamp=datetime.now(UTC))
    await cp.send(event)
    await cp.send(event)
    alert = await service.wait_alert("CP-SEC", "security_event")
    # deduplicated per rule and target (a slow machine may also see the silent station go unresponsive)
    assert len(await service.alerts("CP-SEC", rule="security_event")) == 1

    async def occurrences() -> int | None:
        found = await service.alerts("CP-SEC", rule="security_event")
        return found[0]["detail"]["occurrences"] if found and found[0]["detail"]["occurrences"] == 2 else None

    await eventually(occurrences, what="two occurrences")
    url = f"/api/v1/alerts/{alert['alert_id']}"
    acked = await service.api.post(f"{url}/acknowledge", json={"note": "looking"}, headers=ADMIN)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "bootstrap-admin" and acked.json()["acknowledged_at"]
    again = await service.api.post(f"{url}/acknowledge", headers=ADMIN)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    missing_note = await service.api.post(f"{url}/resolve", json={}, headers=ADMIN)
    assert missing_note.status_code == 422 and "note" in missing_note.text
    done = await service.api.post(f"{url}/resolve", json={"note": "door was opened by staff"}, headers=ADMIN)
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["resolved_by"], done.json()["note"]) == (
        "resolved",
        "bootstrap-admin",
        "door was opened by staff",
    )
    await cp.send(event)  # a new event after resolution opens a new alert; the old one stays in history
    await eventually(lambda: _count(service, "CP-SEC", 2), what="a second alert")


async def _count(service: RunningDiagnostics, station_id: str, n: int) -> bool:
    return len(await service.alerts(station_id, rule="security_event")) == n


async def test_boot_loop_and_firmware_failure(service: RunningDiagnostics) -> None:
    cp = service.station("CP-LOOP")
    await cp.connect()
    boot = BootNotification(ocpp_version="ocpp1.6", vendor="ACME", model="Volt-22", firmware_version="1.0", raw={})
    for _ in range(3):
        await cp.send(boot)
    alert = await service.wait_alert("CP-LOOP", "boot_loop")
    assert alert["detail"]["boots"] == 3
    await cp.send(FirmwareStatus(ocpp_version="ocpp1.6", status="InstallationFailed"))
    await service.wait_alert("CP-LOOP", "firmware_failed")
    await cp.send(FirmwareStatus(ocpp_version="ocpp1.6", status="Installed"))
    await service.wait_alert("CP-LOOP", "firmware_failed", "resolved")


async def test_bad_input_is_refused_naming_the_field(service: RunningDiagnostics) -> None:
    bad_rule = await service.api.post(
        "/api/v1/webhooks", json={"url": "http://x.test/h", "secret": SECRET, "rules": ["nope"]}, headers=ADMIN
    )
    assert bad_rule.status_code == 422 and "rules" in bad_rule.text
    short = await service.api.post("/api/v1/webhooks", json={"url": "http://x.test/h", "secret": "s"}, headers=ADMIN)
    assert short.status_code == 422 and "secret" in short.text
    unknown = await service.api.get("/api/v1/stations/NOPE/status", headers=ADMIN)
    assert unknown.status_code == 404
    assert (await service.api.get("/api/v1/alerts")).status_code == 401
    reversed_period = await service.api.get(
        "/api/v1/uptime",
        params={"station_id": "CP16-F", "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=ADMIN,
    )
    assert reversed_period.status_code == 422


async def test_uptime_of_a_known_history_equals_the_hand_computed_figure(service: RunningDiagnostics) -> None:
    t0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)

    def h(hours: float) -> datetime:
        return t0 + timedelta(hours=hours)

    cp = service.station("CP-UP")
    await cp.send(_connected(), time=h(0))
    await cp.send(ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Available"), time=h(0))
    await cp.send(faulted("ocpp1.6", 1, "GroundFailure"), time=h(1))
    await cp.send(ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Charging"), time=h(3))
    await cp.send(_disconnected(), time=h(5))
    await cp.send(_connected(), time=h(6))
    await cp.send(ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Available"), time=h(6))
    exclusion = {"station_id": "CP-UP", "from": h(1.5).isoformat(), "to": h(2).isoformat(), "reason": "grid_outage"}
    assert (await service.api.post("/api/v1/uptime/exclusions", json=exclusion, headers=ADMIN)).status_code == 201
    params = {"station_id": "CP-UP", "from": h(0).isoformat(), "to": h(10).isoformat()}

    async def computed() -> dict[str, Any] | None:
        r = await service.api.get("/api/v1/uptime", params=params, headers=ADMIN)
        return r.json() if r.status_code == 200 and r.json()["outage_s"] == 3 * 3600 else None

    result = await eventually(computed, what="the uptime of CP-UP")
    # 10 h; outages: faulted 1h-3h, offline 5h-6h (3 h); excluded 0.5 h -> (10 - (3 - 0.5)) / 10 = 75 %
    assert (result["period_s"], result["outage_s"], result["excluded_s"]) == (36000, 10800, 1800)
    assert result["uptime_percent"] == 75.0 and result["meets_target"] is False
    assert [(o["from"], o["to"], o["reasons"]) for o in result["outages"]] == [
        ("2026-03-01T01:00:00Z", "2026-03-01T03:00:00Z", ["faulted"]),
        ("2026-03-01T05:00:00Z", "2026-03-01T06:00:00Z", ["offline"]),
    ]
    again = (await service.api.get("/api/v1/uptime", params=params, headers=ADMIN)).json()
    assert again == result  # recomputed from history: the same answer every time
    uk = (await service.api.get("/api/v1/uptime", params={**params, "method": "uk"}, headers=ADMIN)).json()
    assert (uk["uptime_percent"], uk["target_percent"]) == (75.0, 99.0)
    network = await service.api.get(
        "/api/v1/uptime", params={"from": params["from"], "to": params["to"]}, headers=ADMIN
    )
    assert {"station_id": "CP-UP", "uptime_percent": 75.0, "meets_target": False} in network.json()["stations"]
    # announced for analytics' NEVI export (diagnostics.uptime_exclusion_declared, through the outbox)
    consumer = AIOKafkaConsumer(service.topics.diagnostics, bootstrap_servers=service.settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    declared: list[dict[str, Any]] = []
    try:
        for _ in range(100):  # 30 s at most
            for records in (await consumer.getmany(timeout_ms=300)).values():
                declared += [e for e in (json.loads(r.value) for r in records)
                             if e["type"] == "diagnostics.uptime_exclusion_declared"]  # fmt: skip
            if declared:
                break
    finally:
        await consumer.stop()
    assert [(e["station_id"], e["payload"]["reason"], e["payload"]["starts_at"][:19]) for e in declared] == [
        ("CP-UP", "grid_outage", "2026-03-01T01:30:00")
    ]


def _connected() -> Any:
    from voltline_events.payloads import StationConnected

    return StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw-test")


def _disconnected() -> Any:
    from voltline_events.payloads import StationDisconnected

    return StationDisconnected(gateway_instance="gw-test", reason="closed")


async def test_16_connector_0_is_the_whole_station(service: RunningDiagnostics) -> None:
    cp = service.station("CP16-ZERO")
    await cp.connect()
    await cp.status(0, "Available", connector_id=1)
    await cp.send(faulted("ocpp1.6", 0, "PowerMeterFailure"))

    async def whole() -> dict[str, Any] | None:
        view = await service.status("CP16-ZERO")
        return view if view and view["station_status"] and view["station_status"]["status"] == "Faulted" else None

    view = await eventually(whole, what="the station-wide status")
    assert view["station_status"]["error_code"] == "PowerMeterFailure"
    assert [(c["connector_id"], c["status"]) for c in view["connectors"]] == [(1, "Available")]
    alert = await service.wait_alert("CP16-ZERO", "connector_faulted")
    assert (alert["evse_id"], alert["connector_id"]) == (0, 0)


async def test_2x_transaction_at_an_available_connector_makes_it_occupied(service: RunningDiagnostics) -> None:
    cp = service.station("CP201-TX", "ocpp2.0.1")
    await cp.connect()
    await cp.status(0, "Available", connector_id=1, evse_id=1)
    await connector(service, "CP201-TX", "Available")
    await cp.tx("started", "tx-1", 1, evse_id=1, connector_id=1, charging_state="Charging", seq_no=0)
    port = await connector(service, "CP201-TX", "Occupied")
    assert port["ocpp_status"] == "Occupied"


async def test_the_fleet_list_filters_by_status_health_and_model(service: RunningDiagnostics) -> None:
    cp = service.station("CP-FLEET")
    await cp.connect()
    await cp.send(
        BootNotification(ocpp_version="ocpp1.6", vendor="ACME", model="Fleet-9", firmware_version="2.1", raw={})
    )
    await cp.send(faulted("ocpp1.6", 2, "HighTemperature"))

    async def listed() -> list[dict[str, Any]] | None:
        r = await service.api.get("/api/v1/stations", params={"status": "Faulted", "model": "Fleet-9"}, headers=ADMIN)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        return r.json()["items"] or None

    (item,) = await eventually(listed, what="CP-FLEET in the fleet list")
    assert (item["station_id"], item["health"], item["firmware_version"]) == ("CP-FLEET", "online", "2.1")
    assert [(c["connector_id"], c["status"], c["error_code"]) for c in item["connectors"]] == [
        (2, "Faulted", "HighTemperature")
    ]
    offline = (await service.api.get("/api/v1/stations", params={"health": "offline"}, headers=ADMIN)).json()
    assert all(not s["online"] for s in offline["items"]) and "CP-FLEET" not in {
        s["station_id"] for s in offline["items"]
    }
    models = (await service.api.get("/api/v1/inventory/models", headers=ADMIN)).json()["items"]
    assert {"vendor": "ACME", "model": "Fleet-9", "stations": 1} in models


async def test_the_test_button_sends_a_signed_delivery_and_deleted_hooks_stop(
    service: RunningDiagnostics, receiver: Receiver
) -> None:
    created = await service.api.post("/api/v1/webhooks", json={"url": receiver.url, "secret": SECRET}, headers=ADMIN)
    hook_id = created.json()["webhook_id"]
    sent = await service.api.post(f"/api/v1/webhooks/{hook_id}/test", headers=ADMIN)
    assert sent.status_code == 202
    delivery_id = sent.json()["delivery_id"]

    async def delivered() -> list[Any] | None:
        found = [r for r in receiver.requests if r.headers.get("x-voltline-delivery") == delivery_id]
        return found or None

    request = (await eventually(delivered, what="the test delivery"))[-1]  # the receiver may fail a first try
    assert request.headers["x-voltline-event"] == "diagnostics.webhook_test"
    assert verify(SECRET, request.headers["x-voltline-signature"], request.body)
    assert (await service.api.delete(f"/api/v1/webhooks/{hook_id}", headers=ADMIN)).status_code == 204
    again = await service.api.post(f"/api/v1/webhooks/{hook_id}/test", headers=ADMIN)
    assert again.status_code == 409
    listed = (await service.api.get("/api/v1/webhooks", headers=ADMIN)).json()["items"]
    assert (
        all("secret" not in h for h in listed) and not next(h for h in listed if h["webhook_id"] == hook_id)["active"]
    )


async def test_every_list_refuses_huge_offsets(service: RunningDiagnostics) -> None:
    """A 2**63 offset overflows the database's BIGINT: every list answers 422 instead of 500."""
    answers = await list_routes_refuse_huge_offsets(service.api, ADMIN)
    assert answers and all(status == 422 for status in answers.values()), answers


async def test_connector_statuses_reach_firmware_campaigns_decoded_by_the_station_events_consumer(
    service: RunningDiagnostics,
) -> None:
    """The maintenance consumer skips StatusNotifications unparsed; the station events consumer hands them on,
    and a batch's last status per connector lands in station-firmware (what campaigns wait on) too."""
    cp = service.station("CP-FW-ST")
    await cp.connect()
    for minute, (connector_id, status) in enumerate([(1, "Preparing"), (2, "Available"), (1, "Charging")]):
        await cp.status(minute, status, connector_id=connector_id)

    async def firmware_view() -> dict[str, str] | None:
        r = await service.api.get("/api/v1/station-firmware", headers=ADMIN)
        assert r.status_code == 200, r.text
        found = [s["connectors"] for s in r.json()["items"] if s["station_id"] == "CP-FW-ST"]
        return found[0] if found and found[0] == {"1": "Charging", "2": "Available"} else None

    assert await eventually(firmware_view, what="CP-FW-ST's connectors in station-firmware")
    await connector(service, "CP-FW-ST", "Occupied")


async def test_maintenance_events_are_handled_by_the_one_consumer_of_station_events(
    service: RunningDiagnostics,
) -> None:
    """Boots and security events still reach remote maintenance (station-firmware, security-events), handled
    alone by the station events consumer: no second consumer group reads every station event again."""
    cp = service.station("CP-RARE", "ocpp2.0.1")
    await cp.connect()
    boot = BootNotification(ocpp_version="ocpp2.0.1", vendor="ACME", model="Rare-1", firmware_version="3.2", raw={})
    await cp.send(boot)
    await cp.send(SecurityEvent(ocpp_version="ocpp2.0.1", event_type="FirmwareUpdated", timestamp=datetime.now(UTC)))
    await cp.status(1, "Available")

    async def firmware_view() -> dict[str, Any] | None:
        r = await service.api.get("/api/v1/station-firmware", headers=ADMIN)
        found = [s for s in r.json()["items"] if s["station_id"] == "CP-RARE" and s["connectors"]]
        return found[0] if found and found[0]["model"] == "Rare-1" else None

    async def security_events() -> list[str] | None:
        r = await service.api.get("/api/v1/security-events", params={"station_id": "CP-RARE"}, headers=ADMIN)
        return [e["type"] for e in r.json()["items"]] or None

    view = await eventually(firmware_view, what="CP-RARE's boot in station-firmware")
    assert view["firmware_version"] == "3.2" and view["connectors"] == {"1": "Available"}
    assert await eventually(security_events, what="CP-RARE's security event") == ["FirmwareUpdated"]
    admin = AIOKafkaAdminClient(bootstrap_servers=service.settings.kafka_bootstrap)
    await admin.start()
    try:
        prefix = service.settings.topic_prefix
        groups = {g for g, *_ in await admin.list_consumer_groups() if g.startswith(prefix)}
    finally:
        await admin.close()
    assert f"{prefix}voltline-diagnostics" in groups
    assert not [g for g in groups if "maintenance" in g], groups
