"""The maintenance consumer takes status notifications both as station.message and as typed events."""

from __future__ import annotations

from typing import Any

import pytest
from voltline_bus import Dispatcher
from voltline_diagnostics.entrypoints.maintenance_consumers import RareEvents, build_maintenance_dispatcher, rare_events
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import BootNotification, Heartbeat, StationMessage


async def test_message_and_typed_notifications_reach_the_same_handlers() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    async def record(station_id: str, action: str, payload: dict[str, Any], _env: Envelope) -> None:
        seen.append((station_id, action, payload))

    async def ignore(*_: Any) -> None:
        return None

    names = ("FirmwareStatusNotification", "LogStatusNotification", "DiagnosticsStatusNotification")
    handlers = {name: record for name in (*names, "SecurityEventNotification")}
    dispatch = build_maintenance_dispatcher(handlers, on_boot=ignore, on_status=ignore)
    message = StationMessage(
        ocpp_version="ocpp1.6", action="FirmwareStatusNotification", payload={"status": "Installed"}
    )
    await dispatch(envelope_for(message, source="gw/1", station_id="CP-1"))
    typed = [
        ("station.firmware_status", {"ocpp_version": "ocpp2.0.1", "status": "Downloading", "request_id": 5}),
        ("station.log_status", {"ocpp_version": "ocpp1.6", "kind": "diagnostics", "status": "Uploaded"}),
        ("station.security_event", {"ocpp_version": "ocpp2.1", "event_type": "FirmwareUpdated", "timestamp": "t"}),
    ]
    for kind, payload in typed:
        await dispatch(Envelope(type=kind, schema_version=1, source="gw/1", station_id="CP-1", payload=payload))
    assert seen == [
        ("CP-1", "FirmwareStatusNotification", {"status": "Installed"}),
        ("CP-1", "FirmwareStatusNotification", {"status": "Downloading", "requestId": 5}),
        ("CP-1", "DiagnosticsStatusNotification", {"status": "Uploaded", "requestId": None}),
        ("CP-1", "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": "t", "techInfo": None}),
    ]


async def test_without_on_status_status_notifications_are_skipped_by_their_header() -> None:
    """In the service the station events consumer hands connector statuses on (decoded once in the process):
    the maintenance consumer must not subscribe to them, or it decodes and validates every one again."""

    async def ignore(*_: Any) -> None:
        return None

    dispatch = build_maintenance_dispatcher({}, on_boot=ignore)
    assert "station.connector_status" not in dispatch.event_types
    assert "station.boot_notification" in dispatch.event_types
    assert "station.connector_status" in build_maintenance_dispatcher({}, on_boot=ignore, on_status=ignore).event_types


async def test_rare_events_run_beside_the_station_events_handlers_even_when_those_fail() -> None:
    """In the service maintenance's events run in the station events consumer (`RareEvents`): only the rare
    ones reach it (a DataTransfer message or a heartbeat does not), and a failing health handler neither keeps
    them from maintenance nor is swallowed (the consumer retries, then dead-letters the event)."""
    reached: list[str] = []

    async def record(_station: str, action: str, _payload: dict[str, Any], _env: Envelope) -> None:
        reached.append(action)

    async def booted(_station: str, _boot: Any, _env: Envelope) -> None:
        reached.append("boot")

    async def failing(envelope: Envelope) -> None:
        if envelope.type == "station.boot_notification":
            raise RuntimeError("health could not take it")

    handlers = {"LogStatusNotification": record}
    main = Dispatcher(dict.fromkeys(("station.message", "station.heartbeat", "station.boot_notification"), failing))
    events = RareEvents(main, build_maintenance_dispatcher(handlers, on_boot=booted), rare_events(handlers))
    assert "station.log_status" in events.event_types and "station.heartbeat" in events.event_types

    def message(action: str) -> Envelope:
        event = StationMessage(ocpp_version="ocpp1.6", action=action, payload={"status": "Uploading"})
        return envelope_for(event, source="gw/1", station_id="CP-1")

    boot = BootNotification(ocpp_version="ocpp1.6", vendor="ACME", model="M", firmware_version="1", raw={})
    assert not events.is_rare(message("DataTransfer")) and events.is_rare(message("LogStatusNotification"))
    await events(message("DataTransfer"))
    await events(envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="gw/1", station_id="CP-1"))
    await events(message("LogStatusNotification"))
    with pytest.raises(RuntimeError, match="health could not take it"):
        await events(envelope_for(boot, source="gw/1", station_id="CP-1"))
    assert reached == ["LogStatusNotification", "boot"]
