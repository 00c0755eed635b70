"""What the diagnostics service does with the events it consumes: a handler table (station and session events)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from voltline_bus import Dispatcher
from voltline_events import Envelope, Event, decode_payload
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

from voltline_diagnostics.domain import heard as heard_domain
from voltline_diagnostics.service_layer import authorizations as a
from voltline_diagnostics.service_layer import heard, sessions
from voltline_diagnostics.service_layer import notifications as n
from voltline_diagnostics.service_layer import status as s
from voltline_diagnostics.service_layer.context import HealthContext

Handler = Callable[[Envelope], Awaitable[None]]
P = TypeVar("P", bound=Event)

SIGNS_OF_LIFE = tuple(sorted(heard_domain.SIGNS_OF_LIFE))


def _station(envelope: Envelope) -> str:
    if not envelope.station_id:
        raise ValueError(f"{envelope.type} event {envelope.event_id} names no station")
    return envelope.station_id


def _decoded(envelope: Envelope, kind: type[P]) -> P:
    payload = decode_payload(envelope)
    if not isinstance(payload, kind):  # a registry mix-up, not bad data: let the consumer dead-letter it
        raise TypeError(f"{envelope.type} decoded as {type(payload).__name__}, not {kind.__name__}")
    return payload


def build_dispatcher(
    ctx: HealthContext, on_status: Callable[[str, ConnectorStatus], Awaitable[None]] | None = None
) -> Dispatcher:
    """Station and session events; the library decodes and narrows the typed ones (the use cases keep their
    own inbox check). `on_status` also gets every connector status, before the inbox check (a batch handled
    again hands them on again): remote maintenance's, so each StatusNotification is decoded once."""

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
        if heard.quiet(ctx, envelope):  # nothing but its last seen time changes (service_layer/heard.py)
            return
        version = envelope.payload.get("ocpp_version")
        await s.record_heard(ctx, _station(envelope), envelope.event_id, envelope.time, version)

    async def transaction(envelope: Envelope) -> None:
        if heard.quiet(ctx, envelope):  # a transaction update that changes nothing but the last seen time
            return
        payload = _decoded(envelope, StationTransaction)
        await s.record_transaction(ctx, _station(envelope), envelope.event_id, envelope.time, payload)

    async def status(envelope: Envelope) -> None:
        if heard.quiet(ctx, envelope):  # the port's stored report again, which maintenance holds too
            return
        payload = _decoded(envelope, ConnectorStatus)
        station_id = _station(envelope)
        if on_status is not None:
            await on_status(station_id, payload)
            ctx.note_forwarded(station_id, str(payload.connector_id), payload.status)
        await s.record_status(ctx, station_id, envelope.event_id, envelope.time, payload)

    dispatcher = Dispatcher(
        {
            "station.connected": connected,
            "station.disconnected": disconnected,
            **{t: alive for t in SIGNS_OF_LIFE},
            # decoded here, after the memory's look at the payload's few fields (most are quiet)
            StationTransaction.TYPE: transaction,
            ConnectorStatus.TYPE: status,
        }
    )

    def typed(kind: type[P], fn: Callable[[HealthContext, str, UUID, datetime, P], Awaitable[None]]) -> None:
        async def handle(payload: P, envelope: Envelope) -> None:
            await fn(ctx, _station(envelope), envelope.event_id, envelope.time, payload)

        dispatcher.on(handle, kind)

    typed(BootNotification, s.record_boot)
    typed(BootAnswered, a.record_boot_answer)
    typed(AuthorizeAnswered, a.record_authorization)
    typed(SecurityEvent, n.record_security_event)
    typed(DeviceEvents, n.record_device_events)
    typed(DeviceReport, n.record_report)
    typed(FirmwareStatus, n.record_transfer_status)
    typed(LogStatus, n.record_transfer_status)
    typed(SessionStarted, sessions.record_session_start)
    typed(SessionUpdated, sessions.record_session_update)
    typed(SessionEnded, sessions.record_session_end)
    return dispatcher
