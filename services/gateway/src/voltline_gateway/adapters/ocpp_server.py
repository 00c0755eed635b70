"""The OCPP-J WebSocket servers (ws and wss on one handler): one task per station, frames in order.

Frames from one station are answered strictly one after another, while every station runs in its own task
so a slow or broken one affects no other. Frames are handled on the event loop, with no thread hop.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.typing import Subprotocol

from voltline_gateway.adapters.connection import StationConnection
from voltline_gateway.adapters.keepalive import Keepalive
from voltline_gateway.adapters.registry import StationRegistry
from voltline_gateway.adapters.upgrade import ADMISSION, UpgradeCheck, station_id_from_path
from voltline_gateway.domain.ocpp_j import SUBPROTOCOLS
from voltline_gateway.domain.quirks import QuirkRules
from voltline_gateway.domain.rate_limit import TokenBucket
from voltline_gateway.metrics import DISCONNECTS, connected
from voltline_gateway.service_layer.dispatch import Dispatcher

log = structlog.get_logger()
# websockets logs every closed connection at INFO, without station or reason: refusals and disconnects are
# logged by the gateway itself (adapters.refusals, "station disconnected"), so only its warnings pass.
_WEBSOCKETS_LOG = logging.getLogger("voltline_gateway.websockets")
_WEBSOCKETS_LOG.setLevel(logging.WARNING)


async def send_text(socket: ServerConnection, data: bytes) -> None:
    """`socket.send(data, text=True)` for an answer, without its async context manager when nothing is special.

    websockets' send() wraps each frame in `send_context()` (an async generator, its hooks, two awaits): ~4 us of
    the ~14 an answer cost (bench/RESULTS.md, thirteenth round). When the connection is open, no fragmented message is
    being sent and the transport is not paused, that context does exactly this: queue the frame, write it.
    Anything else (closing, a full write buffer, a write that fails) goes through send() as before.
    """
    protocol = socket.protocol
    if protocol.state is not OPEN or socket.send_in_progress is not None or socket.paused:
        await socket.send(data, text=True)
        return
    protocol.send_text(data)
    try:
        socket.send_data()
    except Exception as exc:  # what send_context() does when writing fails: the connection is over
        socket.set_connection_exc(exc)
    else:
        if socket.paused or socket.transport.is_closing():
            await socket.drain()  # the write buffer is full (or the connection closing): as send() waits
        return
    socket.transport.abort()
    await asyncio.shield(socket.connection_lost_waiter)
    raise socket.close_exc


class Connections:
    """Who is connected to this gateway instance right now, and the model each station last booted as."""

    def __init__(self) -> None:
        self._by_station: dict[str, StationConnection] = {}
        self.models: dict[str, tuple[str, str]] = {}

    def add(self, conn: StationConnection) -> StationConnection | None:
        """Register a connection; returns the one it replaces, if the station was connected already."""
        old = self._by_station.get(conn.station_id)
        self._by_station[conn.station_id] = conn
        return old

    def remove(self, conn: StationConnection) -> bool:
        """Forget the connection; False when a newer one of the same station had replaced it already."""
        if self._by_station.get(conn.station_id) is conn:
            del self._by_station[conn.station_id]
            if conn.vendor and conn.model:
                self.models[conn.station_id] = (conn.vendor, conn.model)
            return True
        return False

    def get(self, station_id: str) -> StationConnection | None:
        return self._by_station.get(station_id)

    def holds(self, station_id: str) -> bool:
        return station_id in self._by_station

    def all(self) -> list[StationConnection]:
        return list(self._by_station.values())

    def __len__(self) -> int:
        return len(self._by_station)


@dataclass(frozen=True)
class Limits:
    accept_backlog: int  # a reconnect storm of thousands must not overflow the listen queue (SYNs dropped)
    max_frame_bytes: int
    ping_interval: float
    ping_timeout: float
    close_timeout: float
    frames_per_second: float
    frame_burst: float
    flood_close_after: int
    handshake_timeout: float = 10.0  # the whole upgrade: headers in, decision out


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    tls: ssl.SSLContext | None = None


class Announcer(Protocol):
    """Tells the bus that a station came or went (connection events and presence)."""

    async def connected(self, conn: StationConnection) -> None: ...

    async def disconnected(self, conn: StationConnection, cause: str, code: int | None, *, holder: bool) -> None:
        """`holder`: no newer connection of the station replaced this one here."""


class OcppServer:
    def __init__(
        self,
        *,
        listeners: list[Listener],
        dispatcher: Dispatcher,
        connections: Connections,
        upgrade: UpgradeCheck,
        registry: StationRegistry,
        rules: QuirkRules,
        limits: Limits,
        announcer: Announcer,
    ) -> None:
        self._listeners = listeners
        self._dispatcher = dispatcher
        self._connections = connections
        self._upgrade = upgrade
        self._registry = registry
        self._rules = rules
        self._limits = limits
        self._announcer = announcer
        self._servers: list[Server] = []
        self._stopping = False
        self._keepalive = Keepalive(connections.all, interval=limits.ping_interval, timeout=limits.ping_timeout)
        self._log: Any = log

    @property
    def ports(self) -> list[int]:
        """The bound ports, in listener order (useful when a listener asked for port 0)."""
        return [s.sockets[0].getsockname()[1] for s in self._servers]

    async def start(self) -> None:
        # Bound once, now that logging is configured: the lazy module logger re-resolves itself on every
        # call, which a reconnect storm of thousands of "station connected" lines pays for even when filtered.
        self._log = log.bind()
        for listener in self._listeners:
            tls = listener.tls is not None

            async def check(connection: ServerConnection, request: Request, tls: bool = tls) -> Response | None:
                return await self._upgrade(connection, request, tls=tls)

            server = await serve(
                partial(self._serve_station, tls=tls),
                listener.host,
                listener.port,
                ssl=listener.tls,
                backlog=self._limits.accept_backlog,
                subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
                process_request=check,
                compression=None,  # per-message deflate costs ~100 KiB per connection
                max_size=self._limits.max_frame_bytes,
                ping_interval=None,  # one keepalive task for all connections, not one each (adapters.keepalive)
                close_timeout=self._limits.close_timeout,
                open_timeout=self._limits.handshake_timeout,
                logger=_WEBSOCKETS_LOG,
                create_connection=self._connection_class(),
            )
            self._servers.append(server)
            self._log.info("OCPP server listening", host=listener.host, port=self.ports[-1], tls=tls)
        self._keepalive.start()

    def _connection_class(self) -> type[ServerConnection]:
        upgrade = self._upgrade

        class Connection(ServerConnection):
            """Logs (once, rate-limited) an opening handshake cut short by the timeout."""

            async def handshake(self, *args: Any, **kwargs: Any) -> None:
                try:
                    await super().handshake(*args, **kwargs)
                except asyncio.CancelledError:
                    upgrade.timed_out(self)
                    raise

        return Connection

    async def stop(self) -> None:
        self._stopping = True
        await self._keepalive.stop()
        for server in self._servers:
            server.close(close_connections=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def _serve_station(self, socket: ServerConnection, *, tls: bool) -> None:
        admission = getattr(socket, ADMISSION)
        station_id = station_id_from_path(socket.request.path if socket.request else "") or ""
        version = str(socket.subprotocol)
        limits = self._limits
        conn = StationConnection(
            station_id,
            version,
            socket,
            tls=tls,
            profile=admission.profile,
            registry=self._registry,
            rules=self._rules,
            bucket=TokenBucket(limits.frames_per_second, limits.frame_burst, time.monotonic()),
            known_model=self._connections.models.get(station_id),
        )
        with structlog.contextvars.bound_contextvars(station_id=station_id):
            replaced = self._connections.add(conn)
            if replaced is not None:
                await self._replace(replaced)
            connected(version).inc()
            self._log.info(
                "station connected",
                station_id=station_id,
                ocpp_version=version,
                remote_address=conn.remote_address,
                tls=tls,
            )
            await self._announcer.connected(conn)
            try:
                await self._frames(conn, socket)
            except ConnectionClosed:
                pass
            finally:
                still_ours = self._connections.remove(conn)
                conn.fail_pending()
                connected(version).dec()
                cause, code = self._cause(conn, socket)
                DISCONNECTS.labels(cause=cause).inc()
                self._log.info("station disconnected", station_id=station_id, cause=cause, close_code=code)
                await self._announcer.disconnected(conn, cause, code, holder=still_ours)

    async def _frames(self, conn: StationConnection, socket: ServerConnection) -> None:
        answer, flood_limit, recv = self._dispatcher.answer, self._limits.flood_close_after, socket.recv
        while True:  # `async for frame in socket` without its async generator (one more frame per message)
            try:
                frame = await recv()
            except ConnectionClosedOK:
                return
            reply = await answer(conn, frame)
            if reply is not None:
                await send_text(socket, reply)
            if conn.close_cause is not None:
                await socket.close(1008, "re-authentication required")
                return
            if conn.refused_in_a_row > flood_limit:
                conn.close_cause = "rate_limited"
                await socket.close(1008, "rate limit exceeded")
                return

    async def _replace(self, old: StationConnection) -> None:
        """A station that reconnects replaces its old connection, which is closed (and announced) first."""
        self._log.info("station reconnected; closing its old connection", station_id=old.station_id)
        old.close_cause = "replaced"
        await old.socket.close(1000, "replaced by a new connection")
        if old.task is not None and old.task is not asyncio.current_task():
            await asyncio.wait({old.task}, timeout=10)

    def _cause(self, conn: StationConnection, socket: ServerConnection) -> tuple[str, int | None]:
        sent, rcvd = socket.protocol.close_sent, socket.protocol.close_rcvd
        code = rcvd.code if rcvd is not None else (sent.code if sent is not None else None)
        if conn.close_cause is not None:
            return conn.close_cause, code
        if sent is not None and sent.code == 1011 and "ping" in sent.reason:
            return "ping_timeout", code
        if sent is not None and sent.code == 1009:
            return "frame_too_big", code
        if self._stopping:
            return "shutdown", code
        if sent is not None and rcvd is None and sent.code == 1002:
            return "protocol_error", code
        if socket.protocol.close_rcvd_then_sent or rcvd is not None:
            return "closed_by_station", code
        return "connection_lost", code
