"""WebSocket keepalive for every station from one task, instead of a task per connection.

Each round pings every connection (a few hundred at a time, so the event loop keeps serving frames), waits
`timeout`, and closes (1011 "keepalive ping timeout", as websockets itself does) the connections whose pong
has not come: their stations are announced offline with the cause `ping_timeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

log = structlog.get_logger()
_SLICE = 500  # pings sent between two yields to the event loop


class Held(Protocol):
    socket: ServerConnection


class Keepalive:
    def __init__(self, connections: Callable[[], Sequence[Held]], *, interval: float, timeout: float) -> None:
        self._connections = connections
        self._interval = interval
        self._timeout = min(timeout, interval)
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="keepalive")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval - self._timeout)
            pinged = await self._ping_all()
            await asyncio.sleep(self._timeout)
            for socket, pong in pinged:
                if not pong.done() and socket.close_code is None:
                    task = asyncio.get_running_loop().create_task(socket.close(1011, "keepalive ping timeout"))
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)

    async def _ping_all(self) -> list[tuple[ServerConnection, asyncio.Future[float]]]:
        pinged: list[tuple[ServerConnection, asyncio.Future[float]]] = []
        for n, held in enumerate(self._connections()):
            try:
                pong = asyncio.ensure_future(await held.socket.ping())  # already a Future; typed Awaitable
            except ConnectionClosed:
                continue
            except Exception as exc:  # never let one connection stop the keepalive of all
                log.warning("could not ping a station", error=repr(exc))
                continue
            pong.add_done_callback(_retrieve)  # a connection closing before its pong is no error to report
            pinged.append((held.socket, pong))
            if n % _SLICE == _SLICE - 1:
                await asyncio.sleep(0)
        return pinged


def _retrieve(future: asyncio.Future[float]) -> None:
    if not future.cancelled():
        future.exception()
