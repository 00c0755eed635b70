"""What the diagnostics service does with the events it consumes: a handler table (station and session events)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from voltline_bus import Dispatcher
from voltline_events import Envelope, decode_payload
from voltline_events.payloads import (
    AuthorizeAnswered,
    BootAnswered,
    BootNotification,
    ConnectorStatus,
    DeviceEvents,
    DeviceReport,
    FirmwareStatus,
    LogStatus,
    SecurityEvent,
    SessionEnded,
    SessionStarted,
    SessionUpdated,
    StationConnected,
    StationTransaction,
)

from voltline_diagnostics.service_layer import authorizations as a
from voltline_diagnostics.service_layer import notifications as n
from voltline_diagnostics.service_layer import sessions
from voltline_diagnostics.service_layer import status as s
from voltline_diagnostics.service_layer.context import HealthContext

Handler = Callable[[Envelope], Awaitable[None]]

SIGNS_OF_LIFE = (
    "station.heartbeat",
    "station.meter_values",
    "station.authorize",
    "station.data_transfer",
    "station.message",
)


def _station(envelope: Envelope) -> str:
    if not envelope.station_id:
        raise ValueError(f"{envelope.type} event {envelope.event_id} names no station")
    return envelope.station_id


def build_dispatcher(ctx: HealthContext) -> Dispatcher:
    def typed(kind: type[Any], fn: Callable[..., Awaitable[None]]) -> Handler:
        async def handle(envelope: Envelope) -> None:
            payload = decode_payload(envelope)
            assert isinstance(payload, kind)
            await fn(ctx, _station(envelope), envelope.event_id, envelope.time, payload)

        return handle

    async def connected(envelope: Envelope) -> None:
        payload = decode_payload(envelope)
        assert isinstance(payload, StationConnected)
        await s.record_presence(
            ctx, _station(envelope), envelope.event_id, envelope.time, connected=True, ocpp_version=payload.ocpp_version
        )

    async def disconnected(envelope: Envelope) -> None:
        await s.record_presence(
            ctx, _station(envelope), envelope.event_id, envelope.time, connected=False, ocpp_version=None
        )

    async def alive(envelope: Envelope) -> None:
        version = envelope.payload.get("ocpp_version")
        await s.record_heard(ctx, _station(envelope), envelope.event_id, envelope.time, version)

    return Dispatcher(
        {
            "station.connected": connected,
            "station.disconnected": disconnected,
            "station.boot_notification": typed(BootNotification, s.record_boot),
            "station.boot_answered": typed(BootAnswered, a.record_boot_answer),
            "station.authorize_answered": typed(AuthorizeAnswered, a.record_authorization),
            "station.connector_status": typed(ConnectorStatus, s.record_status),
            "station.security_event": typed(SecurityEvent, n.record_security_event),
            "station.notify_event": typed(DeviceEvents, n.record_device_events),
            "station.notify_report": typed(DeviceReport, n.record_report),
            "station.firmware_status": typed(FirmwareStatus, n.record_transfer_status),
            "station.log_status": typed(LogStatus, n.record_transfer_status),
            "station.transaction": typed(StationTransaction, s.record_transaction),
            "session.started": typed(SessionStarted, sessions.record_session_start),
            "session.updated": typed(SessionUpdated, sessions.record_session_update),
            "session.ended": typed(SessionEnded, sessions.record_session_end),
            **{t: alive for t in SIGNS_OF_LIFE},
        }
    )
