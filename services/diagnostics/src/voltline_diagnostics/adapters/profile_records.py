"""Configuration profiles, the settings stations reported, and bulk command requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount

from voltline_diagnostics.adapters.maintenance_orm import bulk_commands, config_profiles, reported_settings
from voltline_diagnostics.service_layer.maintenance_ports import Bulk, Profile


def _upsert(db: AsyncSession, table: Any) -> Any:
    return (postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


class ProfileRecords:
    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def put(self, profile: Profile) -> None:
        values = dict(profile.__dict__)
        insert = _upsert(self._db, config_profiles).values(**values)
        values.pop("profile_id")
        await self._db.execute(insert.on_conflict_do_update(index_elements=["profile_id"], set_=values))

    async def get(self, profile_id: str) -> Profile | None:
        query = select(config_profiles).where(config_profiles.c.profile_id == profile_id)
        row = (await self._db.execute(query)).first()
        return Profile(**row._mapping) if row else None

    async def all(self) -> list[Profile]:
        query = select(config_profiles).order_by(config_profiles.c.profile_id)
        return [Profile(**row._mapping) for row in await self._db.execute(query)]

    async def remove(self, profile_id: str) -> bool:
        result = await self._db.execute(delete(config_profiles).where(config_profiles.c.profile_id == profile_id))
        return bool(rowcount(result))

    async def report(self, station_id: str, values: dict[str, tuple[str | None, bool]], at: datetime) -> None:
        for key, (value, reboot) in values.items():
            row = {"station_id": station_id, "key": key, "value": value, "reboot_required": reboot, "reported_at": at}
            insert = _upsert(self._db, reported_settings).values(**row)
            await self._db.execute(
                insert.on_conflict_do_update(
                    index_elements=["station_id", "key"],
                    set_={"value": value, "reboot_required": reboot, "reported_at": at},
                )
            )

    async def reported(self, station_id: str) -> dict[str, tuple[str | None, bool]]:
        c = reported_settings.c
        query = select(c.key, c.value, c.reboot_required).where(c.station_id == station_id)
        return {key: (value, bool(reboot)) for key, value, reboot in await self._db.execute(query)}

    async def rebooted(self, station_id: str) -> None:
        c = reported_settings.c
        stmt = update(reported_settings).where(c.station_id == station_id, c.reboot_required.is_(True))
        await self._db.execute(stmt.values(reboot_required=False))

    async def add_bulk(self, bulk: Bulk) -> None:
        await self._db.execute(bulk_commands.insert().values(**bulk.__dict__))

    async def bulk(self, bulk_id: str) -> Bulk | None:
        row = (await self._db.execute(select(bulk_commands).where(bulk_commands.c.bulk_id == bulk_id))).first()
        return Bulk(**row._mapping) if row else None
