"""The station registry: registering stations, deciding their boots, publishing the registry."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from voltline_events.payloads import BootDecision, StationRegistered

from voltline_auth.domain.access import SYSTEM
from voltline_auth.domain.stations import (
    BootPolicy,
    InvalidStation,
    RegistrationStatus,
    Station,
    UnknownStationPolicy,
    check_certificate,
    check_password,
    check_security_profile,
    decide_boot,
    normalise_fingerprint,
)
from voltline_auth.domain.sync import StationSync
from voltline_auth.service_layer.context import AuthContext, audit, publish
from voltline_auth.service_layer.passwords import hash_password
from voltline_auth.service_layer.unit_of_work import AuthUnitOfWork


class StationExists(Exception):
    pass


class StationNotFound(Exception):
    pass


def registered_event(ctx: AuthContext, uow: AuthUnitOfWork, station: Station, *, deleted: bool = False) -> None:
    """The registry entry as the gateway needs it: password verifiers, never the password."""
    publish(ctx, uow, ctx.topics.station_registry, registry_entry(station, deleted=deleted), station.station_id)


def registry_entry(station: Station | None, *, deleted: bool = False) -> StationRegistered:
    if station is None or deleted:
        return StationRegistered(status=station.status if station else "Rejected", security_profile=0, deleted=True)
    return StationRegistered(
        status=station.status,
        security_profile=station.security_profile,
        password_hash=station.password_hash,
        certificate_fingerprint=station.certificate_fingerprint,
        other_password_hashes=station.other_password_hashes,
    )


async def station_credentials(ctx: AuthContext, station_id: str) -> StationRegistered:
    """The entry as the database has it now (a gateway asks when a station shows a password it does not know)."""
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
    return registry_entry(station)


async def _check_list(uow: AuthUnitOfWork, list_id: str | None) -> None:
    if list_id is not None and await uow.lists.get(list_id) is None:
        raise InvalidStation("local_list", f"there is no local list {list_id!r}; create it first")


@dataclass(frozen=True)
class NewStation:
    station_id: str
    password: str | None = None
    security_profile: int | None = None
    status: RegistrationStatus = "Accepted"
    certificate_fingerprint: str | None = None
    local_list: str | None = None


def _new_station(ctx: AuthContext, new: NewStation) -> Station:
    profile = new.security_profile if new.security_profile is not None else (1 if new.password else 0)
    check_security_profile(profile, has_password=new.password is not None)
    fingerprint = normalise_fingerprint(new.certificate_fingerprint) if new.certificate_fingerprint else None
    check_certificate(profile, fingerprint)
    if new.password is not None:
        check_password(new.password)
    password_hash = hash_password(new.password) if new.password is not None else None
    now = ctx.clock()
    return Station(new.station_id, profile, new.status, password_hash, now, now, fingerprint)


async def register_stations(ctx: AuthContext, batch: list[NewStation], *, actor: str) -> list[Station]:
    """Register many stations in one transaction: all of them, or none (StationExists names who is there)."""
    stations = []
    for index, new in enumerate(batch):
        try:
            stations.append(_new_station(ctx, new))
        except InvalidStation as exc:
            raise InvalidStation(f"stations.{index}.{exc.field}" if len(batch) > 1 else exc.field, str(exc)) from None
    async with ctx.uow() as uow:
        existing = await uow.stations.existing([s.station_id for s in stations])
        if existing:
            raise StationExists(*sorted(existing))
        for new, station in zip(batch, stations, strict=True):
            await _check_list(uow, new.local_list)
            await uow.stations.add(station)
            if new.local_list is not None:
                await uow.sync.set(station.station_id, local_list=new.local_list)
                await uow.sync.bump([station.station_id])
            registered_event(ctx, uow, station)
            await audit(
                ctx, uow, actor, "station.registered", "station", station.station_id,
                status=station.status, security_profile=station.security_profile,
                password_set=new.password is not None, local_list=new.local_list,
            )  # fmt: skip
        await uow.commit()
    return stations


async def register_station(
    ctx: AuthContext,
    station_id: str,
    *,
    password: str | None,
    security_profile: int | None,
    status: RegistrationStatus = "Accepted",
    certificate_fingerprint: str | None = None,
    local_list: str | None = None,
    actor: str,
) -> Station:
    new = NewStation(station_id, password, security_profile, status, certificate_fingerprint, local_list)
    return (await register_stations(ctx, [new], actor=actor))[0]


async def update_station(ctx: AuthContext, station_id: str, changes: dict[str, Any], *, actor: str) -> Station:
    """Apply the fields given (None clears the optional ones); a new password is set without telling the
    station (it was configured out of band) -- use rotate_password to push one."""
    password = changes.get("password")
    if password is not None:
        check_password(password)
    password_hash = hash_password(password) if password is not None else None
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
        if station is None:
            raise StationNotFound(station_id)
        if "security_profile" in changes and changes["security_profile"] is None:
            raise InvalidStation("security_profile", "security_profile cannot be cleared")
        profile = changes.get("security_profile", station.security_profile)
        if password_hash is not None and profile not in (1, 2):
            raise InvalidStation("password", f"security profile {profile} does not use a password")
        new_hash = password_hash or (station.password_hash if profile in (1, 2) else None)
        check_security_profile(profile, has_password=new_hash is not None)
        fingerprint = station.certificate_fingerprint if profile == 3 else None
        if "certificate_fingerprint" in changes:
            given = changes["certificate_fingerprint"]
            fingerprint = normalise_fingerprint(given) if given else None
        check_certificate(profile, fingerprint)
        updated = replace(
            station,
            security_profile=profile,
            status=changes.get("status") or station.status,
            password_hash=new_hash,
            pending_password_hash=None if password_hash or profile not in (1, 2) else station.pending_password_hash,
            previous_password_hash=None if password_hash or profile not in (1, 2) else station.previous_password_hash,
            certificate_fingerprint=fingerprint,
            updated_at=ctx.clock(),
        )
        await uow.stations.save(updated)
        if "local_list" in changes:
            await _check_list(uow, changes["local_list"])
            await uow.sync.set(station_id, local_list=changes["local_list"])
            await uow.sync.bump([station_id])
        registered_event(ctx, uow, updated)
        shown = {k: v for k, v in changes.items() if k != "password"}
        await audit(
            ctx, uow, actor, "station.updated", "station", station_id, **shown, password_set=password is not None
        )
        await uow.commit()
    ctx.kick()
    return updated


async def delete_station(ctx: AuthContext, station_id: str, *, actor: str) -> None:
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
        if station is None:
            raise StationNotFound(station_id)
        await uow.stations.delete(station_id)
        registered_event(ctx, uow, station, deleted=True)
        await audit(ctx, uow, actor, "station.deleted", "station", station_id)
        await uow.commit()


async def get_station(ctx: AuthContext, station_id: str) -> tuple[Station, StationSync | None]:
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
        sync = await uow.sync.get(station_id)
    if station is None:
        raise StationNotFound(station_id)
    return station, sync


async def list_stations(
    ctx: AuthContext, *, status: str | None, limit: int, offset: int
) -> list[tuple[Station, StationSync | None]]:
    async with ctx.uow() as uow:
        page = await uow.stations.list(status=status, limit=limit, offset=offset)
        syncs = await uow.sync.many(s.station_id for s in page)
    return [(s, syncs.get(s.station_id)) for s in page]


async def answer_boot(ctx: AuthContext, policy: BootPolicy, station_id: str) -> BootDecision:
    """Decide a boot. Under the 'pending' policy an unknown station is registered for approval; an
    accepted station is due a sync (cache clears, local list) once it has had its answer."""
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
        answer = decide_boot(station, policy)
        if station is None and policy.unknown_stations is UnknownStationPolicy.PENDING:
            now = ctx.clock()
            station = Station(station_id, 0, "Pending", None, now, now)
            await uow.stations.add(station)
            registered_event(ctx, uow, station)
            await audit(ctx, uow, SYSTEM, "station.registered", "station", station_id, status="Pending", reason="boot")
        if answer.status == "Accepted":
            # A reboot may come with new firmware: ask again about local list support too.
            await uow.sync.set(station_id, list_supported=True)
            await uow.sync.bump([station_id], due=ctx.clock() + ctx.boot_sync_delay)
        await uow.commit()
    return BootDecision(status=answer.status, interval=answer.interval, reason=answer.reason)


async def republish_registry(ctx: AuthContext, batch: int = 500) -> int:
    """Put every registry entry on the bus again: the embedded broker forgets topics on restart."""
    count, offset = 0, 0
    while True:
        async with ctx.uow() as uow:
            page = await uow.stations.list(limit=batch, offset=offset)
            for station in page:
                registered_event(ctx, uow, station)
            await uow.commit()
        count += len(page)
        offset += batch
        if len(page) < batch:
            return count
