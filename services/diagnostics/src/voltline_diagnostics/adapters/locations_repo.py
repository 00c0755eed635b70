"""Locations in diagnostics' store: one row per location (its OCPI-shaped body as JSON, coordinates as columns
for the search box) and one row per station it names (a station belongs to at most one location)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON as SA_JSON
from sqlalchemy import Column, Float, Index, String, Table, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import UTCDateTime

from voltline_diagnostics.adapters.health_tables import connectors, device_variables, metadata, stations
from voltline_diagnostics.domain.locations import Box, LiveConnector
from voltline_diagnostics.service_layer.locations import StationInUse, StationLive

locations = Table(
    "locations",
    metadata,
    Column("location_id", String(36), primary_key=True),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("body", SA_JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_locations_lat_lon", "latitude", "longitude"),
)
location_stations = Table(
    "location_stations",
    metadata,
    Column("station_id", String(48), primary_key=True),
    Column("location_id", String(36), nullable=False, index=True),
)


class SqlLocationStore:
    """service_layer.locations.LocationStore over SQLAlchemy; each call is its own short transaction."""

    def __init__(self, sessions: Callable[[], AsyncSession]) -> None:
        self._sessions = sessions

    async def save(self, body: dict[str, Any], now: datetime, *, create: bool) -> bool:
        location_id = body["location_id"]
        row = {"latitude": float(body["coordinates"]["latitude"]), "longitude": float(body["coordinates"]["longitude"]),
               "body": body, "updated_at": now}  # fmt: skip
        station_ids = [s["station_id"] for s in body.get("stations", [])]
        async with self._sessions() as s, s.begin():
            exists = (
                await s.execute(select(locations.c.location_id).where(locations.c.location_id == location_id))
            ).first()
            if create and exists:
                return False
            if not create and not exists:
                return False
            taken = await s.execute(
                select(location_stations.c.station_id, location_stations.c.location_id).where(
                    location_stations.c.station_id.in_(station_ids), location_stations.c.location_id != location_id
                )
            )
            clash = taken.first()
            if clash is not None:
                raise StationInUse(clash.station_id, clash.location_id)
            if exists:
                await s.execute(update(locations).where(locations.c.location_id == location_id).values(**row))
                await s.execute(delete(location_stations).where(location_stations.c.location_id == location_id))
            else:
                await s.execute(insert(locations).values(location_id=location_id, **row))
            if station_ids:
                try:
                    await s.execute(
                        insert(location_stations), [{"station_id": x, "location_id": location_id} for x in station_ids]
                    )
                except IntegrityError as exc:  # another location took one of them meanwhile
                    raise StationInUse(station_ids[0], "another location") from exc
        return True

    async def get(self, location_id: str) -> dict[str, Any] | None:
        async with self._sessions() as s:
            body = (await s.execute(select(locations.c.body).where(locations.c.location_id == location_id))).scalar()
        return None if body is None else dict(body)

    async def delete(self, location_id: str) -> bool:
        async with self._sessions() as s, s.begin():
            await s.execute(delete(location_stations).where(location_stations.c.location_id == location_id))
            gone = await s.execute(
                delete(locations).where(locations.c.location_id == location_id).returning(locations.c.location_id)
            )
            return gone.first() is not None

    async def in_box(self, box: Box, limit: int) -> list[dict[str, Any]]:
        c = locations.c
        lon = or_(*(and_(c.longitude >= west, c.longitude <= east) for west, east in box.lon_ranges))
        query = select(c.body).where(c.latitude >= box.min_lat, c.latitude <= box.max_lat, lon).limit(limit)
        async with self._sessions() as s:
            return [dict(b) for b in (await s.execute(query)).scalars()]

    async def live(self, station_ids: list[str]) -> dict[str, StationLive]:
        if not station_ids:
            return {}
        async with self._sessions() as s:
            online = await s.execute(
                select(stations.c.station_id, stations.c.online).where(stations.c.station_id.in_(station_ids))
            )
            found = {row.station_id: StationLive(bool(row.online), []) for row in online}
            rows = await s.execute(
                select(connectors.c.station_id, connectors.c.evse_id, connectors.c.connector_id, connectors.c.status)
                .where(connectors.c.station_id.in_(station_ids))
                .order_by(connectors.c.station_id, connectors.c.evse_id, connectors.c.connector_id)
            )
            reported = list(rows)
            models = await self._device_model(s, station_ids)
            for row in reported:
                live = found.setdefault(row.station_id, StationLive(False, []))
                kind = models.get((row.station_id, row.evse_id, row.connector_id))
                power = models.get((row.station_id, row.evse_id, 0))
                live.connectors.append(LiveConnector(row.evse_id, row.connector_id, row.status, kind, _watts(power)))
        return found

    @staticmethod
    async def _device_model(s: AsyncSession, station_ids: list[str]) -> dict[tuple[str, int, int], str]:
        """2.x inventory: (station, evse, connector) -> Connector.ConnectorType; (station, evse, 0) -> EVSE.Power
        MaxSet (W)."""
        d = device_variables.c
        query = select(d.station_id, d.evse_id, d.connector_id, d.variable, d.value).where(
            d.station_id.in_(station_ids),
            or_(
                and_(d.component == "Connector", d.variable == "ConnectorType", d.attribute_type == "Actual"),
                and_(d.component == "EVSE", d.variable == "Power", d.attribute_type == "MaxSet"),
            ),
        )
        found: dict[tuple[str, int, int], str] = {}
        for row in await s.execute(query):
            if row.evse_id is None or row.value is None:
                continue
            connector = (row.connector_id or 1) if row.variable == "ConnectorType" else 0
            found[(row.station_id, row.evse_id, connector)] = row.value
        return found


def _watts(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
