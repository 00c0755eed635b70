"""What remote maintenance takes from the station events: upload, firmware and security notifications, boots."""

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


def build_maintenance_dispatcher(
    handlers: dict[str, MessageHandler], on_boot: BootHandler, on_status: StatusHandler
) -> Dispatcher:
    """`handlers` by OCPP action of `station.message` events (e.g. LogStatusNotification)."""

    async def message(envelope: Envelope) -> None:
        event = decode_payload(envelope)
        if not isinstance(event, StationMessage) or not envelope.station_id:
            return
        handler = handlers.get(event.action)
        if handler is not None:
            await handler(envelope.station_id, event.action, event.payload, envelope)

    async def boot(envelope: Envelope) -> None:
        event = decode_payload(envelope)
        if isinstance(event, BootNotification) and envelope.station_id:
            await on_boot(envelope.station_id, event, envelope)

    async def status(envelope: Envelope) -> None:
        event = decode_payload(envelope)
        if isinstance(event, ConnectorStatus) and envelope.station_id:
            await on_status(envelope.station_id, event)

    return Dispatcher(
        {"station.message": message, "station.boot_notification": boot, "station.connector_status": status}
    )
