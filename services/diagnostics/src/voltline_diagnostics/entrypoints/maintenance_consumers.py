"""What remote maintenance takes from the station events: upload, firmware and security notifications, boots.

The notifications arrive as `station.message` (action and payload as sent) or, from gateways that type them,
as station.firmware_status / station.log_status / station.security_event; both reach the same handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from voltline_bus import Dispatcher
from voltline_events import Envelope, decode_payload
from voltline_events.payloads import BootNotification, ConnectorStatus, StationMessage

MessageHandler = Callable[[str, str, dict[str, Any], Envelope], Awaitable[None]]
BootHandler = Callable[[str, BootNotification, Envelope], Awaitable[None]]
StatusHandler = Callable[[str, ConnectorStatus], Awaitable[None]]


def parse_time(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return default


def _typed(envelope: Envelope) -> tuple[str, dict[str, Any]] | None:
    """The typed notification events (station.firmware_status, .log_status, .security_event), read from the
    envelope's payload as the OCPP action and fields the handlers take; None for anything else."""
    p = envelope.payload
    if envelope.type == "station.firmware_status":
        return "FirmwareStatusNotification", {"status": p.get("status"), "requestId": p.get("request_id")}
    if envelope.type == "station.log_status":
        action = "DiagnosticsStatusNotification" if p.get("kind") == "diagnostics" else "LogStatusNotification"
        return action, {"status": p.get("status"), "requestId": p.get("request_id")}
    if envelope.type == "station.security_event":
        fields = {"type": p.get("event_type"), "timestamp": p.get("timestamp"), "techInfo": p.get("tech_info")}
        return "SecurityEventNotification", fields
    return None


TYPED_NOTIFICATIONS = ("station.firmware_status", "station.log_status", "station.security_event")


def build_maintenance_dispatcher(
    handlers: dict[str, MessageHandler], on_boot: BootHandler, on_status: StatusHandler | None = None
) -> Dispatcher:
    """`handlers` by OCPP action of `station.message` events (e.g. LogStatusNotification). Without `on_status`
    the consumer skips StatusNotifications by their type header, unparsed: in the service the station events
    consumer, which decodes them anyway, hands them on (`Maintenance.connector_status`)."""

    async def message(envelope: Envelope) -> None:
        event = decode_payload(envelope)
        if not isinstance(event, StationMessage) or not envelope.station_id:
            return
        handler = handlers.get(event.action)
        if handler is not None:
            await handler(envelope.station_id, event.action, event.payload, envelope)

    async def typed(envelope: Envelope) -> None:
        found = _typed(envelope)
        if found is not None and envelope.station_id:
            action, payload = found
            handler = handlers.get(action)
            if handler is not None:
                await handler(envelope.station_id, action, payload, envelope)

    async def boot(envelope: Envelope) -> None:
        event = decode_payload(envelope)
        if isinstance(event, BootNotification) and envelope.station_id:
            await on_boot(envelope.station_id, event, envelope)

    async def status(envelope: Envelope) -> None:
        event = decode_payload(envelope)
        if isinstance(event, ConnectorStatus) and envelope.station_id and on_status is not None:
            await on_status(envelope.station_id, event)

    table: dict[str, Callable[[Envelope], Awaitable[None]]] = {
        "station.message": message,
        "station.boot_notification": boot,
        **dict.fromkeys(TYPED_NOTIFICATIONS, typed),
    }
    if on_status is not None:
        table["station.connector_status"] = status
    return Dispatcher(table)
