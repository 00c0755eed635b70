"""Rotating a station's Basic-auth password: the station first, then the registry.

The new password goes to the station with its protocol's configuration call (1.6 ChangeConfiguration
AuthorizationKey, 2.x SetVariables SecurityCtrlr.BasicAuthPassword). Read-your-writes, whatever Kafka's
delay: before the station is told, its verifier is stored and published as *pending* (gateways accept it
beside the current one, and a gateway that has not heard of it yet asks auth, which answers from this
database). Once the station accepted, the new one becomes current and the old one stays valid as
*previous* until the station has connected again; if the station refuses or cannot be reached, the
pending one is dropped and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from voltline_auth.domain.station_commands import Verdict, judge, set_basic_auth_password
from voltline_auth.domain.stations import InvalidStation, Station, check_password
from voltline_auth.service_layer.context import AuthContext, audit
from voltline_auth.service_layer.passwords import generate_password, hash_password
from voltline_auth.service_layer.stations import StationNotFound, registered_event


class RotationFailed(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.detail)
        self.verdict = verdict


class VersionUnknown(Exception):
    """The station has not connected since auth started tracking it: which call to send is unknown."""


@dataclass(frozen=True)
class Rotation:
    station: Station
    station_answer: str | None


async def rotate_password(ctx: AuthContext, station_id: str, password: str | None, *, actor: str) -> Rotation:
    """Push `password` (or a generated one, which nobody ever sees) to the station, then switch over."""
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
        sync = await uow.sync.get(station_id)
    if station is None:
        raise StationNotFound(station_id)
    if station.security_profile not in (1, 2):
        raise InvalidStation("password", f"security profile {station.security_profile} does not use a password")
    if sync is None or sync.ocpp_version is None:
        raise VersionUnknown(station_id)
    new_password = password if password is not None else generate_password()
    check_password(new_password)
    new_hash = hash_password(new_password)
    async with ctx.uow() as uow:
        current = await uow.stations.get(station_id) or station
        await uow.stations.save(replace(current, pending_password_hash=new_hash))
        registered_event(ctx, uow, replace(current, pending_password_hash=new_hash))
        await uow.commit()
    result = await ctx.commands.send(
        station_id, set_basic_auth_password(sync.ocpp_version, new_password), sync.ocpp_version
    )
    verdict = judge(result)
    async with ctx.uow() as uow:
        current = await uow.stations.get(station_id) or station
        if verdict.ok:
            station = replace(
                current,
                password_hash=new_hash,
                pending_password_hash=None,
                previous_password_hash=current.password_hash,
                updated_at=ctx.clock(),
            )
        else:
            station = replace(current, pending_password_hash=None)
        await uow.stations.save(station)
        registered_event(ctx, uow, station)
        await audit(
            ctx, uow, actor, "station.password_rotated" if verdict.ok else "station.password_rotation_failed",
            "station", station_id, station_answer=verdict.detail, generated=password is None,
        )  # fmt: skip
        await uow.commit()
    if not verdict.ok:
        raise RotationFailed(verdict)
    return Rotation(station, verdict.status)
