"""What remote maintenance takes from the station events: upload, firmware and security notifications, boots.

The notifications arrive as `station.message` (action and payload as sent) or, from gateways that type them,
as station.firmware_status / station.log_status / station.security_event; both reach the same handlers.
They are rare: in the service they run in the station events consumer, each alone (`RareEvents`), instead
of in a consumer of their own that read every station event a second time (docs/diagnostics.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
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


RARE_TYPES = frozenset(("station.boot_notification", *TYPED_NOTIFICATIONS))


def rare_events(actions: Collection[str]) -> Callable[[Envelope], bool]:
    """True for what maintenance handles without `on_status`: boots, typed notifications and the
    `station.message`s of `actions` (other messages, e.g. DataTransfer, stay in the batches)."""
    wanted = frozenset(actions)

    def is_rare(envelope: Envelope) -> bool:
        if envelope.type == "station.message":
            return envelope.payload.get("action") in wanted
        return envelope.type in RARE_TYPES

    return is_rare


class RareEvents:
    """The station events consumer's handler: `main` for every event, then for the rare ones (`is_rare`, which
    the consumer also takes as `solo`: handled alone, outside any batch transaction) maintenance's.

    Maintenance's handler runs even when `main` fails on the event (as it did in a consumer of its own); the
    failure is raised after it, so the consumer retries the event (main's use cases skip it by their inbox;
    maintenance's writes are idempotent) and dead-letters it in the end: a poison stays isolated.
    """

    def __init__(self, main: Dispatcher, rare: Dispatcher, is_rare: Callable[[Envelope], bool]) -> None:
        self._main, self._rare, self.is_rare = main, rare, is_rare
        self.event_types = main.event_types | rare.event_types

    async def __call__(self, envelope: Envelope) -> None:
        if not self.is_rare(envelope):
            await self._main(envelope)
            return
        try:
            await self._main(envelope)
        except Exception:
            await self._rare(envelope)
            raise
        await self._rare(envelope)
