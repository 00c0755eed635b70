"""Firmware catalogue, campaigns, their station targets, and what each station runs (from its boots)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount

from voltline_diagnostics.adapters import status_batch_pg
from voltline_diagnostics.adapters.maintenance_orm import campaign_targets, campaigns, firmware_images, station_firmware
from voltline_diagnostics.service_layer.maintenance_ports import Campaign, Firmware, StationFirmware, TargetRow

# The stored statuses merged with the batch's (jsonb `||`: the batch's keys win), one fixed text.
_PG_MERGE_CONNECTORS = (
    "INSERT INTO maintenance_station_firmware (station_id, connectors)"
    " SELECT sid, c::json FROM unnest($1::varchar[], $2::text[]) AS v(sid, c)"
    " ON CONFLICT (station_id) DO UPDATE SET connectors ="
    " (maintenance_station_firmware.connectors::jsonb || excluded.connectors::jsonb)::json"
)


def _upsert(db: AsyncSession, table: Any) -> Any:
    return (postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


class FirmwareRecords:
    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    # catalogue
    async def add_firmware(self, firmware: Firmware) -> bool:
        result = await self._db.execute(
            _upsert(self._db, firmware_images).values(**firmware.__dict__).on_conflict_do_nothing()
        )
        return bool(rowcount(result))

    async def update_firmware(self, firmware_id: str, **values: Any) -> None:
        await self._db.execute(
            update(firmware_images).where(firmware_images.c.firmware_id == firmware_id).values(**values)
        )

    async def firmware(self, firmware_id: str) -> Firmware | None:
        row = (
            await self._db.execute(select(firmware_images).where(firmware_images.c.firmware_id == firmware_id))
        ).first()
        return Firmware(**row._mapping) if row else None

    async def all_firmware(self) -> list[Firmware]:
        query = select(firmware_images).order_by(firmware_images.c.created_at.desc())
        return [Firmware(**row._mapping) for row in await self._db.execute(query)]

    # campaigns
    async def add_campaign(self, campaign: Campaign, targets: list[TargetRow]) -> None:
        await self._db.execute(campaigns.insert().values(**campaign.__dict__))
        if targets:
            await self._db.execute(campaign_targets.insert(), [t.__dict__ for t in targets])

    async def campaign(self, campaign_id: str, *, lock: bool = False) -> Campaign | None:
        query = select(campaigns).where(campaigns.c.campaign_id == campaign_id)
        row = (await self._db.execute(query.with_for_update() if lock else query)).first()
        return Campaign(**row._mapping) if row else None

    async def campaigns(self, statuses: frozenset[str] | None = None) -> list[Campaign]:
        query = select(campaigns).order_by(campaigns.c.created_at.desc())
        if statuses is not None:
            query = query.where(campaigns.c.status.in_(statuses))
        return [Campaign(**row._mapping) for row in await self._db.execute(query)]

    async def set_campaign(self, campaign_id: str, **values: Any) -> None:
        await self._db.execute(update(campaigns).where(campaigns.c.campaign_id == campaign_id).values(**values))

    async def targets(self, campaign_id: str) -> list[TargetRow]:
        c = campaign_targets.c
        query = select(campaign_targets).where(c.campaign_id == campaign_id).order_by(c.station_id)
        return [TargetRow(**row._mapping) for row in await self._db.execute(query)]

    async def set_target(
        self, campaign_id: str, station_id: str, *, only_in: tuple[str, ...] = (), **values: Any
    ) -> bool:
        c = campaign_targets.c
        stmt = update(campaign_targets).where(c.campaign_id == campaign_id, c.station_id == station_id)
        if only_in:
            stmt = stmt.where(c.state.in_(only_in))
        result = await self._db.execute(stmt.values(**values))
        return bool(rowcount(result))

    async def active_targets_of(self, station_id: str, states: frozenset[str]) -> list[TargetRow]:
        c = campaign_targets.c
        query = select(campaign_targets).where(c.station_id == station_id, c.state.in_(states))
        return [TargetRow(**row._mapping) for row in await self._db.execute(query)]

    # what stations run
    async def station(self, station_id: str) -> StationFirmware | None:
        query = select(station_firmware).where(station_firmware.c.station_id == station_id)
        row = (await self._db.execute(query)).first()
        return StationFirmware(**row._mapping) if row else None

    async def stations(self, model: str | None, versions: list[str] | None) -> list[StationFirmware]:
        c = station_firmware.c
        query = select(station_firmware)
        if model is not None:
            query = query.where(c.model == model)
        if versions:
            query = query.where(c.firmware_version.in_(versions))
        return [StationFirmware(**row._mapping) for row in await self._db.execute(query.order_by(c.station_id))]

    async def booted(self, station_id: str, vendor: str, model: str, version: str | None, at: datetime) -> None:
        values = {"vendor": vendor, "model": model, "firmware_version": version, "booted_at": at}
        insert = _upsert(self._db, station_firmware).values(station_id=station_id, connectors={}, **values)
        await self._db.execute(insert.on_conflict_do_update(index_elements=["station_id"], set_=values))

    async def connectors_many(self, latest: dict[str, dict[str, str]]) -> None:
        """`latest[station][connector] = status` for many stations: one read and one multi-row upsert per
        thousand stations; on PostgreSQL one statement with the merge done by the server (a multi-row VALUES
        was a new text per batch size, compiled by SQLAlchemy and prepared by asyncpg every batch)."""
        ids = sorted(latest)
        if self._db.get_bind().dialect.name == "postgresql":
            pg = await status_batch_pg.driver(self._db)
            await pg.execute(_PG_MERGE_CONNECTORS, ids, [json.dumps(latest[sid]) for sid in ids])
            return
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query = select(station_firmware.c.station_id, station_firmware.c.connectors).where(
                station_firmware.c.station_id.in_(chunk)
            )
            known = {r.station_id: dict(r.connectors or {}) for r in await self._db.execute(query)}
            rows = [{"station_id": sid, "connectors": {**known.get(sid, {}), **latest[sid]}} for sid in chunk]
            insert = _upsert(self._db, station_firmware).values(rows)
            await self._db.execute(
                insert.on_conflict_do_update(
                    index_elements=["station_id"], set_={"connectors": insert.excluded.connectors}
                )
            )

    async def connector(self, station_id: str, connector: str, status: str) -> None:
        current = await self.station(station_id)
        connectors = dict(current.connectors) if current else {}
        connectors[connector] = status
        insert = _upsert(self._db, station_firmware).values(station_id=station_id, connectors=connectors)
        await self._db.execute(
            insert.on_conflict_do_update(index_elements=["station_id"], set_={"connectors": connectors})
        )
