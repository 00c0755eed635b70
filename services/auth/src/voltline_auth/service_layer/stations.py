"""Registering stations and deciding their boots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from voltline_events import Topics, envelope_for, station_key
from voltline_events.payloads import BootDecision, StationRegistered

from voltline_auth.adapters.passwords import hash_password
from voltline_auth.domain.stations import (
    BootPolicy,
    InvalidStation,
    RegistrationStatus,
    Station,
    UnknownStationPolicy,
    check_password,
    check_security_profile,
    decide_boot,
)
from voltline_auth.service_layer.unit_of_work import AuthUnitOfWork

UowFactory = Callable[[], AuthUnitOfWork]
Clock = Callable[[], datetime]


class StationExists(Exception):
    pass


class StationNotFound(Exception):
    pass


@dataclass(frozen=True)
class StationContext:
    """What the station use cases need besides a transaction."""

    uow: UowFactory
    topics: Topics
    source: str
    clock: Clock


def _registered_event(ctx: StationContext, uow: AuthUnitOfWork, station: Station) -> None:
    event = StationRegistered(status=station.status, security_profile=station.security_profile)
    envelope = envelope_for(event, source=ctx.source, station_id=station.station_id)
    uow.outbox.add(ctx.topics.station_registry, envelope, key=station_key(station.station_id))


async def register_station(
    ctx: StationContext,
    station_id: str,
    *,
    password: str | None,
    security_profile: int | None,
    status: RegistrationStatus = "Accepted",
) -> Station:
    profile = security_profile if security_profile is not None else (1 if password else 0)
    check_security_profile(profile, has_password=password is not None)
    if password is not None:
        check_password(password)
    password_hash = await hash_password(password) if password is not None else None
    now = ctx.clock()
    station = Station(station_id, profile, status, password_hash, now, now)
    async with ctx.uow() as uow:
        if await uow.stations.get(station_id) is not None:
            raise StationExists(station_id)
        await uow.stations.add(station)
        _registered_event(ctx, uow, station)
        await uow.commit()
    return station


async def update_station(
    ctx: StationContext,
    station_id: str,
    *,
    status: RegistrationStatus | None = None,
    password: str | None = None,
) -> Station:
    password_hash = None
    if password is not None:
        check_password(password)
        password_hash = await hash_password(password)
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
        if station is None:
            raise StationNotFound(station_id)
        if password_hash is not None:
            if station.security_profile not in (1, 2):
                raise InvalidStation("password", f"security profile {station.security_profile} does not use a password")
            station = Station(**{**station.__dict__, "password_hash": password_hash, "updated_at": ctx.clock()})
        if status is not None:
            station = station.with_status(status, ctx.clock())
        await uow.stations.save(station)
        _registered_event(ctx, uow, station)
        await uow.commit()
    return station


async def get_station(ctx: StationContext, station_id: str) -> Station:
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
    if station is None:
        raise StationNotFound(station_id)
    return station


async def list_stations(ctx: StationContext, *, status: str | None, limit: int, offset: int) -> list[Station]:
    async with ctx.uow() as uow:
        return await uow.stations.list(status=status, limit=limit, offset=offset)


async def answer_boot(ctx: StationContext, policy: BootPolicy, station_id: str) -> BootDecision:
    """Decide a boot; under the 'pending' policy an unknown station is registered for approval."""
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
        answer = decide_boot(station, policy)
        if station is None and policy.unknown_stations is UnknownStationPolicy.PENDING:
            now = ctx.clock()
            station = Station(station_id, 0, "Pending", None, now, now)
            await uow.stations.add(station)
            _registered_event(ctx, uow, station)
            await uow.commit()
    return BootDecision(status=answer.status, interval=answer.interval, reason=answer.reason)


async def republish_registry(ctx: StationContext, batch: int = 500) -> int:
    """Put every registry entry on the bus again: the embedded broker forgets topics on restart."""
    count, offset = 0, 0
    while True:
        async with ctx.uow() as uow:
            page = await uow.stations.list(limit=batch, offset=offset)
            for station in page:
                _registered_event(ctx, uow, station)
            await uow.commit()
        count += len(page)
        offset += batch
        if len(page) < batch:
            return count
