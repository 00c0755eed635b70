"""What auth learns from other services' events: which stations are connected (and on which protocol
version), and which sessions are running on which driver's tokens."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from voltline_events import Envelope
from voltline_events.payloads import SessionEnded, SessionStarted, StationConnected, StationDisconnected

from voltline_auth.domain.sync import presence_applies
from voltline_auth.domain.tokens import normalise
from voltline_auth.service_layer.context import AuthContext
from voltline_auth.service_layer.stations import registered_event

CONSUMER = "auth-events"


async def first_time(ctx: AuthContext, envelope: Envelope) -> bool:
    """Claims the event's inbox marker (in the consumer's batch): False when it was handled before."""
    async with ctx.uow() as uow:
        first = await uow.inbox.first_time(CONSUMER, envelope.event_id)
        await uow.commit()
    return first


async def station_connected(ctx: AuthContext, envelope: Envelope, event: StationConnected) -> None:
    station_id = envelope.station_id
    if station_id is None:
        raise ValueError("station.connected without a station id")
    async with ctx.uow() as uow:
        if await uow.inbox.first_time(CONSUMER, envelope.event_id):
            if presence_applies(await uow.sync.get(station_id), envelope.time):
                await uow.sync.set(
                    station_id,
                    connected=True,
                    ocpp_version=event.ocpp_version,
                    gateway_instance=event.gateway_instance,
                    presence_at=envelope.time,
                )
            station = await uow.stations.get(station_id)
            if station is not None and station.previous_password_hash and envelope.time > station.updated_at:
                # Connected since the rotation finished: it has the new password, the old one may go.
                station = replace(station, previous_password_hash=None)
                await uow.stations.save(station)
                registered_event(ctx, uow, station)
        await uow.commit()


async def station_booted(ctx: AuthContext, envelope: Envelope, ocpp_version: str) -> None:
    """A boot proves the station is connected with this version, even if we missed its connect event."""
    if envelope.station_id is None:
        raise ValueError("station.boot_notification without a station id")
    async with ctx.uow() as uow:
        station_id = envelope.station_id
        if await uow.inbox.first_time(CONSUMER, envelope.event_id) and presence_applies(
            await uow.sync.get(station_id), envelope.time
        ):
            await uow.sync.set(station_id, connected=True, ocpp_version=ocpp_version, presence_at=envelope.time)
        await uow.commit()


async def station_disconnected(ctx: AuthContext, envelope: Envelope, event: StationDisconnected) -> None:
    station_id = envelope.station_id
    if station_id is None:
        raise ValueError("station.disconnected without a station id")
    async with ctx.uow() as uow:
        if await uow.inbox.first_time(CONSUMER, envelope.event_id) and presence_applies(
            await uow.sync.get(station_id), envelope.time, leaving=True, gateway_instance=event.gateway_instance
        ):
            # Kept even before any connect was read: an older connect read after it must not count.
            await uow.sync.set(station_id, connected=False, presence_at=envelope.time)
        await uow.commit()


async def session_started(ctx: AuthContext, envelope: Envelope, event: SessionStarted) -> None:
    key = normalise(event.id_token) if event.id_token else None
    async with ctx.uow() as uow:
        if await uow.inbox.first_time(CONSUMER, envelope.event_id):
            driver_id = event.driver_id
            if driver_id is None and key is not None:
                owners = {t.driver_id for t in await uow.tokens.by_key(key) if t.driver_id is not None}
                driver_id = owners.pop() if len(owners) == 1 else None
            await uow.sessions.add(
                session_id=event.session_id,
                station_id=event.station_id,
                evse_id=event.evse_id,
                id_token_key=key,
                driver_id=driver_id,
                started_at=event.started_at if event.started_at.tzinfo else event.started_at.replace(tzinfo=UTC),
            )
        await uow.commit()


async def session_ended(ctx: AuthContext, envelope: Envelope, event: SessionEnded) -> None:
    async with ctx.uow() as uow:
        if await uow.inbox.first_time(CONSUMER, envelope.event_id):
            await uow.sessions.remove(event.session_id)
        await uow.commit()
