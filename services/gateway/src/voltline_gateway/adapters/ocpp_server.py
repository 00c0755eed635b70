"""The OCPP-J WebSocket server: upgrade checks, one task per station, frames in order.

Frames from one station are answered strictly one after another (OCPP allows one outstanding call per
direction), while every station runs in its own task so a slow or broken one affects no other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus

import structlog
from voltline_events.payloads import StationConnected, StationDisconnected
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from voltline_gateway.actions.context import StationBus
from voltline_gateway.domain.ocpp_j import SUBPROTOCOLS
from voltline_gateway.domain.station_id import is_valid_station_id
from voltline_gateway.metrics import CONNECTED
from voltline_gateway.service_layer.dispatch import Dispatcher

log = structlog.get_logger()
PATH_PREFIX = "/ocpp/"


@dataclass
class Connection:
    station_id: str
    ocpp_version: str
    remote_address: str | None
    socket: ServerConnection
    since: datetime = field(default_factory=lambda: datetime.now(UTC))


class Connections:
    """Who is connected to this gateway instance right now."""

    def __init__(self) -> None:
        self._by_station: dict[str, Connection] = {}

    def add(self, conn: Connection) -> Connection | None:
        """Register a connection; returns the one it replaces, if the station was connected already."""
        old = self._by_station.get(conn.station_id)
        self._by_station[conn.station_id] = conn
        return old

    def remove(self, conn: Connection) -> None:
        if self._by_station.get(conn.station_id) is conn:
            del self._by_station[conn.station_id]

    def all(self) -> list[Connection]:
        return list(self._by_station.values())


def station_id_from_path(path: str) -> str | None:
    raw = path.split("?", 1)[0]
    if not raw.startswith(PATH_PREFIX):
        return None
    station_id = raw[len(PATH_PREFIX) :]
    return station_id if is_valid_station_id(station_id) else None


class OcppServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        dispatcher: Dispatcher,
        bus: StationBus,
        connections: Connections,
        instance_id: str,
        max_frame_bytes: int,
        ping_interval: float,
    ) -> None:
        self._host, self._port = host, port
        self._dispatcher = dispatcher
        self._bus = bus
        self._connections = connections
        self._instance_id = instance_id
        self._max_frame_bytes = max_frame_bytes
        self._ping_interval = ping_interval
        self._server: Server | None = None

    async def start(self) -> None:
        self._server = await serve(
            self._serve_station,
            self._host,
            self._port,
            subprotocols=list(SUBPROTOCOLS),  # type: ignore[arg-type]
            process_request=self._check_upgrade,
            max_size=self._max_frame_bytes,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_interval,
        )
        log.info("OCPP server listening", host=self._host, port=self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()

    def _check_upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        if station_id_from_path(request.path) is None:
            return connection.respond(
                HTTPStatus.NOT_FOUND,
                "Connect to /ocpp/{station_id}; a station id is 1-48 characters of a-z A-Z 0-9 * - _ = : + | @ .\n",
            )
        return None

    async def _serve_station(self, socket: ServerConnection) -> None:
        station_id = station_id_from_path(socket.request.path if socket.request else "") or ""
        ocpp_version = str(socket.subprotocol)
        remote = socket.remote_address[0] if socket.remote_address else None
        conn = Connection(station_id, ocpp_version, remote, socket)
        with structlog.contextvars.bound_contextvars(station_id=station_id):
            replaced = self._connections.add(conn)
            if replaced is not None:
                log.info("station reconnected; closing its old connection")
                await replaced.socket.close(1000, "replaced by a new connection")
            CONNECTED.labels(ocpp_version=ocpp_version).inc()
            log.info("station connected", ocpp_version=ocpp_version, remote_address=remote)
            await self._announce(
                StationConnected(
                    ocpp_version=ocpp_version,
                    gateway_instance=self._instance_id,  # type: ignore[arg-type]
                    remote_address=remote,
                ),
                station_id,
            )
            reason = "closed"
            try:
                async for frame in socket:
                    reply = await self._dispatcher.answer(station_id, ocpp_version, frame)
                    if reply is not None:
                        await socket.send(reply)
            except ConnectionClosed as exc:
                reason = f"connection closed: {exc}"
            finally:
                self._connections.remove(conn)
                CONNECTED.labels(ocpp_version=ocpp_version).dec()
                close_code = socket.close_code
                log.info("station disconnected", reason=reason, close_code=close_code)
                await self._announce(
                    StationDisconnected(gateway_instance=self._instance_id, reason=reason, close_code=close_code),
                    station_id,
                )

    async def _announce(self, event: StationConnected | StationDisconnected, station_id: str) -> None:
        """Connection events are best effort: a station is served even while Kafka is unreachable."""
        try:
            await asyncio.wait_for(self._bus.publish(event, station_id=station_id), timeout=5)
        except Exception as exc:
            log.warning("could not publish connection event", event=event.TYPE, error=str(exc))
