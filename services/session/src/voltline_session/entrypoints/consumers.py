"""What the session service does with the station events it consumes: a handler table.

Transactions, refusals and connector statuses are typed handlers (the library decodes and narrows); the
use cases keep their own inbox check, in the unit of work they write in. Every other station event is
only a sign of life, read leniently.
"""

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

    dispatcher = Dispatcher(
        {
            "station.connected": presence(True),
            "station.disconnected": presence(False),
            "station.boot_notification": presence(None, booted=True),
            "station.heartbeat": presence(None),
            "station.meter_values": presence(None),  # outside any transaction: a sign of life, not session energy
            "station.message": presence(None),
            **{t: presence(None) for t in SIGNS_OF_LIFE},
        }
    )

    @dispatcher.on
    async def transaction(tx: StationTransaction, envelope: Envelope) -> None:
        await record_transaction(ctx, _station(envelope), envelope.event_id, envelope.time, tx)

    @dispatcher.on
    async def refusal(refused: TransactionRefused, envelope: Envelope) -> None:
        await record_refusal(ctx, _station(envelope), envelope.event_id, envelope.time, refused)

    @dispatcher.on
    async def connector_status(status: ConnectorStatus, envelope: Envelope) -> None:
        await record_status(ctx, _station(envelope), envelope.event_id, envelope.time, status)

    return dispatcher
