"""Live status, history and boots of stations and connectors (health_* tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount

from voltline_diagnostics.adapters.health_tables import (
    alerts,
    boots,
    connectors,
    presence_history,
    stations,
    status_history,
)
from voltline_diagnostics.adapters.status_batch import state_of
from voltline_diagnostics.adapters.status_rows import (
    CONNECTOR_FIELDS,
    STATION_FIELDS,
    ConnectorRow,
    StationRow,
    connector_row,
    station_row,
)

__all__ = ["ConnectorRow", "StationRow", "StatusRepository"]


class StatusRepository:
    """Inside a consumer batch, the live rows come from the batch's memory and are written at its commit
    (`status_batch`); outside one, every call is its statement."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._batch = state_of(session)

    async def station(self, station_id: str) -> StationRow | None:
        if self._batch is not None:
            if station_id not in self._batch.stations:
                await self._batch.load([station_id])
            return self._batch.stations[station_id]  # type: ignore[no-any-return]
        row = (await self.session.execute(select(stations).where(stations.c.station_id == station_id))).first()
        return station_row(row) if row else None

    async def save_station(self, station: StationRow, now: datetime, *, new: bool) -> None:
        if self._batch is not None:
            sid = station.station_id
            if sid not in self._batch.stations:  # never read in this batch: whether it exists is not known
                await self._batch.load([sid])
            if self._batch.stations.get(sid) is None:
                self._batch.new_stations.add(sid)
            self._batch.stations[sid] = station
            self._batch.dirty_stations.add(sid)
            self._batch.connectors.setdefault(sid, {})
            return
        values = {k: getattr(station, k) for k in STATION_FIELDS} | {"updated_at": now}
        if new:
            await self.session.execute(insert(stations).values(**values))
        else:
            await self.session.execute(
                update(stations).where(stations.c.station_id == station.station_id).values(**values)
            )

    async def mark_report_requested(self, station_id: str, now: datetime) -> None:
        """The station was asked for its inventory now: that column alone (outside the consumer's batches)."""
        await self.session.execute(
            update(stations).where(stations.c.station_id == station_id).values(report_requested_at=now, updated_at=now)
        )

    async def connectors_of(self, station_id: str) -> list[ConnectorRow]:
        if self._batch is not None:
            if station_id not in self._batch.connectors:
                await self._batch.load([station_id])
            ports = self._batch.connectors.get(station_id, {})
            return [ports[k] for k in sorted(ports)]
        rows = await self.session.execute(
            select(connectors)
            .where(connectors.c.station_id == station_id)
            .order_by(connectors.c.evse_id, connectors.c.connector_id)
        )
        return [connector_row(r) for r in rows]

    async def connector(self, station_id: str, evse_id: int, connector_id: int) -> ConnectorRow | None:
        if self._batch is not None:
            if station_id not in self._batch.connectors:
                await self._batch.load([station_id])
            return self._batch.connectors.get(station_id, {}).get((evse_id, connector_id))
        row = (
            await self.session.execute(
                select(connectors).where(
                    connectors.c.station_id == station_id,
                    connectors.c.evse_id == evse_id,
                    connectors.c.connector_id == connector_id,
                )
            )
        ).first()
        return connector_row(row) if row else None

    async def save_connector(self, c: ConnectorRow, *, new: bool) -> None:
        if self._batch is not None:
            if c.station_id not in self._batch.connectors:
                await self._batch.load([c.station_id])
            ports = self._batch.connectors.setdefault(c.station_id, {})
            port = (c.station_id, c.evse_id, c.connector_id)
            if (c.evse_id, c.connector_id) not in ports:
                self._batch.new_ports.add(port)
            ports[(c.evse_id, c.connector_id)] = c
            self._batch.dirty_ports.add(port)
            return
        values = {k: getattr(c, k) for k in CONNECTOR_FIELDS}
        if new:
            await self.session.execute(insert(connectors).values(**values))
            return
        await self.session.execute(
            update(connectors)
            .where(
                connectors.c.station_id == c.station_id,
                connectors.c.evse_id == c.evse_id,
                connectors.c.connector_id == c.connector_id,
            )
            .values(**values)
        )

    async def open_status_interval(self, c: ConnectorRow, at: datetime, *, opened: datetime | None) -> None:
        """Close the port's current interval (which began at `opened`, the port's `since`; None: the port is
        new, it has no interval yet) at `at` and open one with its new status."""
        row = {
            "station_id": c.station_id,
            "evse_id": c.evse_id,
            "connector_id": c.connector_id,
            "status": c.status,
            "ocpp_status": c.ocpp_status,
            "error_code": c.error_code,
            "started_at": at,
        }
        if self._batch is not None:
            self._batch.open_status_interval((c.station_id, c.evse_id, c.connector_id), row, at, stored=opened)
            return
        if opened is not None:
            where = and_(
                status_history.c.station_id == c.station_id,
                status_history.c.evse_id == c.evse_id,
                status_history.c.connector_id == c.connector_id,
                status_history.c.started_at == opened,
                status_history.c.ended_at.is_(None),
            )
            await self.session.execute(update(status_history).where(where).values(ended_at=at))
        await self.session.execute(insert(status_history).values(**row))

    async def open_presence_interval(self, station_id: str, online: bool, at: datetime) -> None:
        if self._batch is not None:
            self._batch.open_presence_interval(station_id, online, at)
            return
        where = and_(presence_history.c.station_id == station_id, presence_history.c.ended_at.is_(None))
        await self.session.execute(update(presence_history).where(where).values(ended_at=at))
        await self.session.execute(insert(presence_history).values(station_id=station_id, online=online, started_at=at))

    async def status_history(
        self,
        station_id: str,
        start: datetime,
        end: datetime,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Intervals overlapping [start, end), oldest first; the open one has ended_at None."""
        query = select(status_history).where(
            status_history.c.station_id == station_id,
            status_history.c.started_at < end,
            or_(status_history.c.ended_at.is_(None), status_history.c.ended_at > start),
        )
        if evse_id is not None:
            query = query.where(status_history.c.evse_id == evse_id)
        if connector_id is not None:
            query = query.where(status_history.c.connector_id == connector_id)
        rows = await self.session.execute(query.order_by(status_history.c.started_at, status_history.c.id))
        return [dict(r._mapping) for r in rows]

    async def presence_history(self, station_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(presence_history)
            .where(
                presence_history.c.station_id == station_id,
                presence_history.c.started_at < end,
                or_(presence_history.c.ended_at.is_(None), presence_history.c.ended_at > start),
            )
            .order_by(presence_history.c.started_at, presence_history.c.id)
        )
        return [dict(r._mapping) for r in rows]

    async def add_boot(self, station_id: str, at: datetime, reason: str | None) -> None:
        await self.session.execute(insert(boots).values(station_id=station_id, at=at, reason=reason))

    async def boots_since(self, station_id: str, since: datetime) -> list[datetime]:
        rows = await self.session.execute(
            select(boots.c.at).where(boots.c.station_id == station_id, boots.c.at >= since).order_by(boots.c.at)
        )
        return [r.at for r in rows]

    async def touch_many(self, times: dict[str, datetime], now: datetime) -> dict[str, datetime]:
        """Each station's `last_seen_at` moved to its time (never back); returns those marked unresponsive,
        with when they were marked (service_layer/heard.py decides whether the time heard clears it)."""
        if not times:
            return {}
        c = stations.c
        moved = (
            update(stations)
            .where(c.station_id == bindparam("k_sid"), c.last_seen_at < bindparam("k_at"))
            .values(last_seen_at=bindparam("k_at"), updated_at=now)
        )
        await self.session.execute(moved, [{"k_sid": sid, "k_at": at} for sid, at in sorted(times.items())])
        ids = sorted(times)
        marked: dict[str, datetime] = {}
        for start in range(0, len(ids), 5000):
            query = select(c.station_id, c.unresponsive_since).where(
                c.station_id.in_(ids[start : start + 5000]), c.unresponsive.is_(True)
            )
            for sid, since in await self.session.execute(query):
                marked[sid] = since or now
        return marked

    async def mark_unresponsive(self, cutoff_for: dict[str, datetime], now: datetime) -> list[str]:
        """Stations (among those given, each with its own cutoff) still online and unheard since; marked now."""
        marked = []
        for station_id, cutoff in cutoff_for.items():
            result = await self.session.execute(
                update(stations)
                .where(
                    stations.c.station_id == station_id,
                    stations.c.online.is_(True),
                    stations.c.unresponsive.is_(False),
                    stations.c.last_seen_at < cutoff,
                )
                .values(unresponsive=True, unresponsive_since=now, updated_at=now)
            )
            if rowcount(result):
                marked.append(station_id)
        return marked

    async def online_heard_before(self, cutoff: datetime) -> list[tuple[str, datetime, int | None]]:
        rows = await self.session.execute(
            select(stations.c.station_id, stations.c.last_seen_at, stations.c.heartbeat_interval_s).where(
                stations.c.online.is_(True), stations.c.unresponsive.is_(False), stations.c.last_seen_at < cutoff
            )
        )
        return [(r.station_id, r.last_seen_at, r.heartbeat_interval_s) for r in rows]

    async def authorized_before(self, cutoff: datetime) -> list[str]:
        """Stations with an accepted authorisation older than `cutoff` that no transaction followed yet."""
        rows = await self.session.execute(select(stations.c.station_id).where(stations.c.authorized_at < cutoff))
        return [r.station_id for r in rows]

    async def offline_since_before(self, cutoff: datetime) -> list[tuple[str, datetime]]:
        """Offline since before `cutoff` and without an open station_offline alert yet."""
        alerted = select(alerts.c.alert_id).where(
            alerts.c.station_id == stations.c.station_id,
            alerts.c.rule == "station_offline",
            alerts.c.status != "resolved",
        )
        rows = await self.session.execute(
            select(stations.c.station_id, stations.c.since).where(
                stations.c.online.is_(False), stations.c.since < cutoff, ~alerted.exists()
            )
        )
        return [(r.station_id, r.since) for r in rows]

    async def never_inventoried(self, booted_before: datetime, limit: int = 100) -> list[str]:
        rows = await self.session.execute(
            select(stations.c.station_id)
            .where(
                stations.c.online.is_(True),
                stations.c.last_boot_at < booted_before,
                stations.c.report_requested_at.is_(None),
            )
            .limit(limit)
        )
        return [r.station_id for r in rows]

    async def health_counts(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(stations.c.online, stations.c.unresponsive, func.count()).group_by(
                stations.c.online, stations.c.unresponsive
            )
        )
        out = {"online": 0, "offline": 0, "unresponsive": 0}
        for online, unresponsive, n in rows:
            out["offline" if not online else "unresponsive" if unresponsive else "online"] += n
        return out
