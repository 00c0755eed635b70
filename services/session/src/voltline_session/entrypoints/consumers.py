"""What the session service does with the station events it consumes: a handler table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from voltline_bus import Dispatcher
from voltline_events import Envelope, UnknownEventError, decode_payload
from voltline_events.payloads import ConnectorStatus, StationTransaction, TransactionRefused

from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.recording import (
    record_presence,
    record_refusal,
    record_status,
    record_transaction,
)

SIGNS_OF_LIFE = (
    "station.authorize",
    "station.data_transfer",
    "station.firmware_status",
    "station.log_status",
    "station.security_event",
    "station.notify_event",
    "station.notify_report",
)
"""Typed station calls that mean nothing to sessions but that the station is alive (once all station.message)."""


def _station(envelope: Envelope) -> str:
    if not envelope.station_id:
        raise ValueError(f"{envelope.type} event {envelope.event_id} names no station")
    return envelope.station_id


def build_dispatcher(ctx: SessionContext) -> Dispatcher:
    async def transaction(envelope: Envelope) -> None:
        tx = decode_payload(envelope)
        assert isinstance(tx, StationTransaction)
        await record_transaction(ctx, _station(envelope), envelope.event_id, envelope.time, tx)

    async def refusal(envelope: Envelope) -> None:
        refused = decode_payload(envelope)
        assert isinstance(refused, TransactionRefused)
        await record_refusal(ctx, _station(envelope), envelope.event_id, envelope.time, refused)

    async def connector_status(envelope: Envelope) -> None:
        status = decode_payload(envelope)
        assert isinstance(status, ConnectorStatus)
        await record_status(ctx, _station(envelope), envelope.event_id, envelope.time, status)

    def presence(connected: bool | None, *, booted: bool = False) -> Callable[[Envelope], Awaitable[None]]:
        async def handle(envelope: Envelope) -> None:
            try:
                version = getattr(decode_payload(envelope), "ocpp_version", None)  # all but disconnects have one
            except (UnknownEventError, ValidationError):
                version = None  # still a sign of life, whatever else is wrong with it
            await record_presence(
                ctx,
                _station(envelope),
                envelope.event_id,
                envelope.time,
                ocpp_version=version,
                connected=connected,
                booted=booted,
            )

        return handle

    return Dispatcher(
        {
            "station.transaction": transaction,
            "station.transaction_refused": refusal,
            "station.connector_status": connector_status,
            "station.connected": presence(True),
            "station.disconnected": presence(False),
            "station.boot_notification": presence(None, booted=True),
            "station.heartbeat": presence(None),
            "station.meter_values": presence(None),  # outside any transaction: a sign of life, not session energy
            "station.message": presence(None),
            **{t: presence(None) for t in SIGNS_OF_LIFE},
        }
    )
