"""Configuration profiles: desired settings per model or group, drift against what stations reported, and
pushing the difference (set-configuration per differing setting, as one bulk; optionally a soft reset of the
stations that answered RebootRequired).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voltline_diagnostics.domain.config_profiles import DriftItem, drift, reported_values
from voltline_diagnostics.service_layer.bulk import BulkService, EmptySelection
from voltline_diagnostics.service_layer.maintenance_ports import (
    Bulk,
    CommandRecord,
    MaintenanceStore,
    OnlineStations,
    Profile,
)


@dataclass(frozen=True)
class StationDrift:
    station_id: str
    ocpp_version: str | None
    items: list[DriftItem]

    @property
    def in_sync(self) -> bool:
        return all(i.in_sync for i in self.items)

    @property
    def reboot_required(self) -> bool:
        return any(i.reboot_required for i in self.items)


class ProfileService:
    def __init__(
        self,
        sessions: MaintenanceStore,
        bulk: BulkService,
        online: OnlineStations,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions, self._bulk, self._online, self._clock = sessions, bulk, online, clock

    async def remember(self, record: CommandRecord) -> None:
        """Command hook: keep the settings a station reported or accepted."""
        if record.status != "accepted":
            return
        values = reported_values(record.action, record.payload, record.response)
        if values:
            async with self._sessions() as db:
                await db.profiles.report(record.station_id, values, record.answered_at or self._clock())
                await db.commit()

    async def put(self, profile: Profile) -> None:
        async with self._sessions() as db:
            await db.profiles.put(profile)
            await db.commit()

    async def get(self, profile_id: str) -> Profile | None:
        async with self._sessions() as db:
            return await db.profiles.get(profile_id)

    async def all(self) -> list[Profile]:
        async with self._sessions() as db:
            return await db.profiles.all()

    async def stations(self, profile: Profile) -> list[str]:
        selection: dict[str, Any] = {"station_ids": profile.station_ids, "model": profile.model}
        try:
            return await self._bulk.select(selection)
        except EmptySelection:
            return []

    async def drift(self, profile: Profile) -> list[StationDrift]:
        report = []
        async with self._sessions() as db:
            repo = db.profiles
            for station_id in await self.stations(profile):
                presence = self._online.get(station_id)
                version = presence.ocpp_version if presence is not None else None
                reported = await repo.reported(station_id)
                report.append(StationDrift(station_id, version, drift(profile.settings, version, reported)))
        return report

    async def check(self, profile: Profile, by: str) -> Bulk:
        """Ask every station of the profile for the profile's settings (get-configuration), to refresh drift."""
        stations = await self.stations(profile)
        if not stations:
            raise EmptySelection("the profile matches no station")
        params = {"keys": sorted(profile.settings)}
        selection = {"profile_id": profile.profile_id}
        return await self._bulk.start("get-configuration", params, selection, by, stations)

    async def push(self, profile: Profile, by: str) -> tuple[Bulk, int]:
        """set-configuration for every setting out of sync, as one bulk; (bulk, commands sent)."""
        work: list[tuple[str, dict[str, Any]]] = []
        for station in await self.drift(profile):
            for item in station.items:
                if not item.in_sync and item.problem is None:
                    work.append((station.station_id, {"key": item.name, "value": item.desired}))
        stations = sorted({s for s, _ in work})
        bulk = Bulk(
            bulk_id=str(uuid.uuid4()),
            command="set-configuration",
            params={"profile_id": profile.profile_id, "commands": len(work)},
            selection={"profile_id": profile.profile_id},
            station_ids=stations,
            requested_by=by,
            created_at=self._clock(),
        )
        async with self._sessions() as db:
            await db.profiles.add_bulk(bulk)
            await db.commit()
        return self._bulk.run(bulk, work), len(work)

    async def reboot(self, profile: Profile, by: str) -> Bulk | None:
        """A soft reset of the profile's stations that answered RebootRequired (and have not booted since)."""
        stations = [d.station_id for d in await self.drift(profile) if d.reboot_required]
        if not stations:
            return None
        selection = {"profile_id": profile.profile_id, "reboot_required": True}
        return await self._bulk.start("reset", {"type": "soft"}, selection, by, stations)

    async def booted(self, station_id: str) -> None:
        """A boot applies the settings that waited for a reboot."""
        async with self._sessions() as db:
            await db.profiles.rebooted(station_id)
            await db.commit()
