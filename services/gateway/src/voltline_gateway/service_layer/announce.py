"""Connection events: station.connected / station.disconnected on the station's stream, and its presence record.

Both are best effort with a bound: a station is served even while Kafka is unreachable (its calls then get
InternalError until Kafka is back), and a lost presence record is repaired by the next connect or by the
holder reasserting it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Protocol

import structlog
from voltline_events.payloads import StationConnected, StationDisconnected

from voltline_gateway.actions.context import StationBus

log = structlog.get_logger()


class Conn(Protocol):
    station_id: str
    ocpp_version: str
    remote_address: str | None
    since: datetime


class PresenceWriter(Protocol):
    def station(
        self, station_id: str, *, connected: bool, ocpp_version: str | None, remote: str | None, since: datetime
    ) -> Coroutine[None, None, None]: ...


class ConnectionEvents:
    def __init__(self, bus: StationBus, presence: PresenceWriter, *, instance: str, timeout: float = 5.0) -> None:
        self._bus = bus
        self._presence = presence
        self._instance = instance
        self._timeout = timeout

    async def connected(self, conn: Conn) -> None:
        event = StationConnected(
            ocpp_version=conn.ocpp_version,
            gateway_instance=self._instance,
            remote_address=conn.remote_address,
        )
        await self._best_effort(
            conn.station_id,
            self._bus.publish_soon(event, station_id=conn.station_id),
            self._presence.station(
                conn.station_id,
                connected=True,
                ocpp_version=conn.ocpp_version,
                remote=conn.remote_address,
                since=conn.since,
            ),
        )

    async def disconnected(self, conn: Conn, cause: str, code: int | None, *, holder: bool) -> None:
        reason = cause.replace("_", " ") + (f" (close code {code})" if code is not None else "")
        event = StationDisconnected(gateway_instance=self._instance, reason=reason, close_code=code, cause=cause)
        jobs = [self._bus.publish_soon(event, station_id=conn.station_id)]
        if holder:  # a newer connection of this station on this instance has announced itself already
            jobs.append(
                self._presence.station(
                    conn.station_id, connected=False, ocpp_version=None, remote=None, since=datetime.now(UTC)
                )
            )
        await self._best_effort(conn.station_id, *jobs)

    async def reassert(self, conn: Conn) -> None:
        await self._best_effort(
            conn.station_id,
            self._presence.station(
                conn.station_id,
                connected=True,
                ocpp_version=conn.ocpp_version,
                remote=conn.remote_address,
                since=conn.since,
            ),
        )

    async def _best_effort(self, station_id: str, *jobs: Coroutine[None, None, None]) -> None:
        """Await writes that are queued already (no task per write); report, never raise."""
        for job in jobs:
            try:
                async with asyncio.timeout(self._timeout):
                    await job
            except Exception as exc:
                log.warning("could not publish a connection event", station_id=station_id, error=repr(exc))
