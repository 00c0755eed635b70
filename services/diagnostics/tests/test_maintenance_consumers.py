"""The maintenance consumer takes status notifications both as station.message and as typed events."""

from __future__ import annotations

from typing import Any

from voltline_diagnostics.entrypoints.maintenance_consumers import build_maintenance_dispatcher
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import StationMessage


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
